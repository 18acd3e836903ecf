// SPDX-License-Identifier: Apache-2.0
// PCL .pcd v0.7 (and 0.6 headers without VERSION checks) reader/writer.
// Header: VERSION FIELDS SIZE TYPE COUNT WIDTH HEIGHT VIEWPOINT POINTS DATA, in that order ('#' comments).
// DATA ascii | binary (point-major, packed fields) | binary_compressed (u32 compressed size, u32
// uncompressed size, LZF payload that decompresses to the field-major "SoA" layout: for each field, all
// points' values). Organised clouds (HEIGHT > 1) keep WIDTH×HEIGHT points in row-major pixel order.
// Values are kept raw per field (`columns`), so packed rgb/rgba floats keep their bit pattern.
// Errors name the file and the header line or byte offset. This parser does not depend on Tensor.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace leseg::io {

struct PcdField {
  std::string name;
  int size = 4;     // bytes per value: 1, 2, 4, 8
  char type = 'F';  // 'I' signed, 'U' unsigned, 'F' float
  int count = 1;    // values per point
};

enum class PcdDataFormat : uint8_t { ascii, binary, binary_compressed };

struct PcdData {
  std::string version = "0.7";
  std::vector<PcdField> fields;
  int64_t width = 0, height = 1, points = 0;
  std::array<double, 7> viewpoint{0, 0, 0, 1, 0, 0, 0};
  PcdDataFormat format = PcdDataFormat::binary;
  // columns[f]: points * count * size bytes, point-major within the field, host byte order.
  std::vector<std::vector<uint8_t>> columns;

  int field_index(const std::string& name) const;  // -1 when absent
  // Value k of field f at point i, converted to double (exact for every 32-bit type).
  double value(int f, int64_t i, int k = 0) const;
  // Raw 32-bit pattern (for packed rgb/rgba of size 4).
  uint32_t bits32(int f, int64_t i) const;
};

PcdData parse_pcd(const uint8_t* data, size_t size, const std::string& name);
PcdData read_pcd(const std::string& path);

std::vector<uint8_t> encode_pcd(const PcdData& pcd, PcdDataFormat format);
void write_pcd(const std::string& path, const PcdData& pcd, PcdDataFormat format);

}  // namespace leseg::io
