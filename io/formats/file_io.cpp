// SPDX-License-Identifier: Apache-2.0
#include "io/formats/file_io.h"

#include <fstream>

#include "engine/error.h"

namespace leseg::io {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) LESEG_FAIL(path, ": cannot open for reading");
  f.seekg(0, std::ios::end);
  std::streamoff n = f.tellg();
  if (n < 0) LESEG_FAIL(path, ": cannot determine file size");
  f.seekg(0);
  std::vector<uint8_t> buf(static_cast<size_t>(n));
  if (n > 0 && !f.read(reinterpret_cast<char*>(buf.data()), n)) LESEG_FAIL(path, ": read failed");
  return buf;
}

void write_file_bytes(const std::string& path, const void* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) LESEG_FAIL(path, ": cannot open for writing");
  if (size) f.write(static_cast<const char*>(data), std::streamsize(size));
  if (!f) LESEG_FAIL(path, ": write failed");
}

std::string read_file_text(const std::string& path) {
  std::vector<uint8_t> b = read_file_bytes(path);
  return std::string(b.begin(), b.end());
}

void write_file_text(const std::string& path, const std::string& text) { write_file_bytes(path, text.data(), text.size()); }

}  // namespace leseg::io
