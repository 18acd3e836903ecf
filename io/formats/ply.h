// SPDX-License-Identifier: Apache-2.0
// PLY (Stanford polygon format) reader and writer.
// Read: formats ascii, binary_little_endian, binary_big_endian (1.0). Every element is parsed (so faces and
// list properties are skipped correctly); scalar properties of the "vertex" element are kept by name as
// doubles (exact for every PLY scalar type: char/uchar/short/ushort/int/uint/float/double and the
// int8/uint8/int16/uint16/int32/uint32/float32/float64 aliases). List properties of "vertex" are skipped.
// Write: one "vertex" element, binary_little_endian or ascii, columns with a chosen scalar type.
// Errors name the file and the header line, or the element/row/property and byte offset (binary) or
// line (ascii). This parser does not depend on Tensor (the fuzz target links it alone).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace leseg::io {

enum class PlyType : uint8_t { i8, u8, i16, u16, i32, u32, f32, f64 };
enum class PlyFormat : uint8_t { ascii, binary_little_endian, binary_big_endian };

int ply_type_size(PlyType t);
const char* ply_type_name(PlyType t);  // canonical names: char uchar short ushort int uint float double

struct PlyProperty {
  std::string name;
  PlyType type = PlyType::f32;  // item type for lists
  bool is_list = false;
  PlyType count_type = PlyType::u8;
};

struct PlyElement {
  std::string name;
  int64_t count = 0;
  std::vector<PlyProperty> properties;
};

struct PlyData {
  PlyFormat format = PlyFormat::ascii;
  std::vector<PlyElement> elements;
  std::vector<std::string> comments;
  int64_t num_vertices = 0;
  std::map<std::string, std::vector<double>> vertex;  // scalar vertex properties by name
  std::map<std::string, PlyType> vertex_types;         // their declared types

  bool has(const std::string& prop) const { return vertex.count(prop) != 0; }
  // Throws naming the missing property and the available ones.
  const std::vector<double>& get(const std::string& prop) const;
};

PlyData parse_ply(const uint8_t* data, size_t size, const std::string& name);
PlyData read_ply(const std::string& path);

struct PlyColumn {
  std::string name;
  PlyType type = PlyType::f32;
  std::vector<double> values;  // one per vertex (converted to `type` on write)
};
// All columns must have the same length.
std::vector<uint8_t> encode_ply(const std::vector<PlyColumn>& columns, PlyFormat format);
void write_ply(const std::string& path, const std::vector<PlyColumn>& columns,
               PlyFormat format = PlyFormat::binary_little_endian);

}  // namespace leseg::io
