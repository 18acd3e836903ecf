// SPDX-License-Identifier: Apache-2.0
// Whole-file helpers shared by the format readers (throw leseg::Error naming the path). No Tensor
// dependency, so the fuzz targets can link the parsers alone.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace leseg::io {

std::vector<uint8_t> read_file_bytes(const std::string& path);
std::string read_file_text(const std::string& path);
void write_file_bytes(const std::string& path, const void* data, size_t size);
void write_file_text(const std::string& path, const std::string& text);

}  // namespace leseg::io
