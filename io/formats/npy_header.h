// SPDX-License-Identifier: Apache-2.0
// The layout of an in-memory .npy file, validated (magic, version, header dict, dtype, shape, payload size):
// everything parse_npy (npy.h) needs before it touches the data. Errors name the file and the header field or
// byte offset. Tensor-free so the fuzz target (fuzz/npy_fuzz.cpp) builds it alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace leseg::io {

struct NpyLayout {
  std::string descr;
  char kind = 0;         // 'f', 'i', 'u', 'b'
  int item_size = 0;     // bytes per element (1, 2, 4, 8)
  bool swap = false;     // big-endian data
  std::vector<int64_t> shape;
  int64_t count = 0;     // elements
  size_t data_offset = 0;  // first payload byte; count * item_size bytes follow (checked)
};

NpyLayout parse_npy_layout(const uint8_t* data, size_t size, const std::string& name);

}  // namespace leseg::io
