// SPDX-License-Identifier: Apache-2.0
// PLY: ascii / binary little / binary big endian, every scalar type and alias, faces and list properties
// skipped, write/read round trips, scene conversion with NaN drops, and errors naming the offset/line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/formats/ply.h"
#include "io/formats/point_cloud.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;

namespace {

PlyData parse(const std::string& s) { return parse_ply(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "mem.ply"); }

template <class T>
void put(std::string& s, T v, bool big) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  if (big) std::reverse(b, b + sizeof(T));
  s.append(b, sizeof(T));
}

// Two vertices with one property of each type, then two faces with list properties.
std::string binary_ply(bool big) {
  std::string s = std::string("ply\nformat ") + (big ? "binary_big_endian" : "binary_little_endian") +
                  " 1.0\ncomment test\nelement vertex 2\nproperty float32 x\nproperty double y\nproperty float z\n"
                  "property char a\nproperty uint8 b\nproperty short c\nproperty uint16 d\nproperty int32 e\n"
                  "property uint f\nproperty list uchar int vidx\n"
                  "element face 2\nproperty list uchar int vertex_indices\nproperty uchar flags\n"
                  "element extra 1\nproperty float w\nend_header\n";
  for (int r = 0; r < 2; ++r) {
    put<float>(s, 1.5f + r, big);
    put<double>(s, -2.25 - r, big);
    put<float>(s, 1e-3f * float(r + 1), big);
    put<int8_t>(s, int8_t(-7 - r), big);
    put<uint8_t>(s, uint8_t(200 + r), big);
    put<int16_t>(s, int16_t(-30000 + r), big);
    put<uint16_t>(s, uint16_t(60000 + r), big);
    put<int32_t>(s, -2000000000 + r, big);
    put<uint32_t>(s, 4000000000u + uint32_t(r), big);
    put<uint8_t>(s, uint8_t(r + 1), big);  // vertex list: r+1 ints
    for (int k = 0; k <= r; ++k) put<int32_t>(s, k, big);
  }
  for (int f = 0; f < 2; ++f) {
    put<uint8_t>(s, 3, big);
    for (int k = 0; k < 3; ++k) put<int32_t>(s, k, big);
    put<uint8_t>(s, uint8_t(f), big);
  }
  put<float>(s, 9.f, big);
  return s;
}

void check_typed(const PlyData& p) {
  ASSERT_EQ(p.num_vertices, 2);
  EXPECT_EQ(p.get("x"), (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(p.get("y"), (std::vector<double>{-2.25, -3.25}));
  EXPECT_EQ(p.get("z")[1], double(2e-3f));
  EXPECT_EQ(p.get("a"), (std::vector<double>{-7, -8}));
  EXPECT_EQ(p.get("b"), (std::vector<double>{200, 201}));
  EXPECT_EQ(p.get("c"), (std::vector<double>{-30000, -29999}));
  EXPECT_EQ(p.get("d"), (std::vector<double>{60000, 60001}));
  EXPECT_EQ(p.get("e"), (std::vector<double>{-2000000000, -1999999999}));
  EXPECT_EQ(p.get("f"), (std::vector<double>{4000000000.0, 4000000001.0}));
  EXPECT_FALSE(p.has("vidx"));
  ASSERT_EQ(p.elements.size(), 3u);
  EXPECT_EQ(p.elements[1].name, "face");
}

}  // namespace

TEST(Ply, BinaryLittleAndBigEndianAllTypes) {
  check_typed(parse(binary_ply(false)));
  check_typed(parse(binary_ply(true)));
}

TEST(Ply, AsciiWithFaces) {
  std::string s =
      "ply\r\nformat ascii 1.0\r\ncomment windows line ends\r\nelement vertex 3\r\nproperty float x\r\nproperty float y\r\n"
      "property float z\r\nproperty uchar red\r\nproperty uchar green\r\nproperty uchar blue\r\nproperty int label\r\n"
      "element face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n"
      "0 0 0 255 0 0 3\r\n1 0.5 -2 0 255 0 -1\r\n1e1 2 3 0 0 255 40\r\n3 0 1 2\r\n";
  PlyData p = parse(s);
  EXPECT_EQ(p.get("x"), (std::vector<double>{0, 1, 10}));
  EXPECT_EQ(p.get("label"), (std::vector<double>{3, -1, 40}));
  Scene sc = ply_to_scene(p);
  ASSERT_TRUE(sc.colors.defined());
  EXPECT_EQ(sc.colors.to_vector<uint8_t>(), (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255}));
  EXPECT_EQ(sc.labels.to_vector<int32_t>(), (std::vector<int32_t>{3, -1, 40}));
}

TEST(Ply, SceneRoundTripBothFormats) {
  leseg::testing::TempDir dir;
  Scene s;
  const int64_t n = 37;
  s.coords = Tensor::randn(Shape{n, 3}, 1);
  s.normals = Tensor::randn(Shape{n, 3}, 2);
  std::vector<uint8_t> col(static_cast<size_t>(n * 3));
  std::vector<int32_t> lab(static_cast<size_t>(n)), ins(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) col[size_t(3 * i + k)] = uint8_t((i * 7 + k * 91) % 256);
    lab[size_t(i)] = int32_t(i % 5) - 1;
    ins[size_t(i)] = int32_t(i / 4);
  }
  s.colors = Tensor::from_vector(col, Shape{n, 3});
  s.labels = Tensor::from_vector(lab, Shape{n});
  s.instances = Tensor::from_vector(ins, Shape{n});
  for (PlyFormat f : {PlyFormat::binary_little_endian, PlyFormat::ascii}) {
    std::string p = dir.file(f == PlyFormat::ascii ? "a.ply" : "b.ply");
    write_ply_scene(p, s, f);
    ReadReport rep;
    Scene r = read_ply_scene(p, &rep);
    EXPECT_EQ(rep.points_in_file, n);
    EXPECT_EQ(rep.nan_dropped, 0);
    EXPECT_EQ(r.coords.to_vector<float>(), s.coords.to_vector<float>());  // %.9g round-trips f32 exactly
    EXPECT_EQ(r.normals.to_vector<float>(), s.normals.to_vector<float>());
    EXPECT_EQ(r.colors.to_vector<uint8_t>(), col);
    EXPECT_EQ(r.labels.to_vector<int32_t>(), lab);
    EXPECT_EQ(r.instances.to_vector<int32_t>(), ins);
  }
}

TEST(Ply, ColumnRoundTripEveryType) {
  std::vector<PlyColumn> cols = {{"a", PlyType::i8, {-128, 127}},       {"b", PlyType::u8, {0, 255}},
                                 {"c", PlyType::i16, {-32768, 32767}},  {"d", PlyType::u16, {0, 65535}},
                                 {"e", PlyType::i32, {-2147483648.0, 2147483647}}, {"f", PlyType::u32, {0, 4294967295.0}},
                                 {"g", PlyType::f32, {0.1f, -3e38f}},  {"h", PlyType::f64, {0.1, -1e-300}}};
  for (PlyFormat f : {PlyFormat::binary_little_endian, PlyFormat::ascii}) {
    std::vector<uint8_t> b = encode_ply(cols, f);
    PlyData p = parse_ply(b.data(), b.size(), "rt.ply");
    for (auto& c : cols) {
      EXPECT_EQ(p.get(c.name), c.values) << c.name;
      EXPECT_EQ(p.vertex_types.at(c.name), c.type);
    }
  }
}

TEST(Ply, NanCoordinatesAreDroppedAndCounted) {
  std::string s = "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
                  "property float red\nproperty float green\nproperty float blue\nend_header\n"
                  "0 0 0 1 0 0.5\nnan 0 0 1 1 1\n1 inf 2 0 0 0\n3 3 3 0.2 0.4 1\n";
  ReadReport rep;
  Scene sc = ply_to_scene(parse(s), &rep);
  EXPECT_EQ(rep.points_in_file, 4);
  EXPECT_EQ(rep.nan_dropped, 2);
  EXPECT_EQ(sc.num_points(), 2);
  EXPECT_EQ(sc.coords.to_vector<float>(), (std::vector<float>{0, 0, 0, 3, 3, 3}));
  // float colours in [0, 1] are scaled to 0..255
  EXPECT_EQ(sc.colors.to_vector<uint8_t>(), (std::vector<uint8_t>{255, 0, 128, 51, 102, 255}));
}

TEST(Ply, Errors) {
  std::string head = "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n";
  std::string body(3 * 12, '\0');
  expect_error([&] { parse(head + body.substr(0, 30)); }, {"mem.ply", "declares 3 rows"});
  // truncated inside a row (the count guard passes since rows are 12 bytes and 30 bytes remain for 3)
  std::string head2 = "ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty list uchar int idx\nend_header\n";
  std::string b2;
  put<float>(b2, 1.f, false);
  put<uint8_t>(b2, 200, false);  // 200 ints announced, few present
  b2 += std::string(16, '\0');
  expect_error([&] { parse(head2 + b2); }, {"mem.ply", "truncated PLY body", "row 0", "'idx'", "offset"});
  expect_error([&] { parse("plx\nformat ascii 1.0\nend_header\n"); }, {"mem.ply", "not a PLY file"});
  expect_error([&] { parse("ply\nformat ascii 1.0\nelement vertex 1\nproperty float32 x\n"); }, {"no 'end_header'"});
  expect_error([&] { parse("ply\nformat ascii 1.0\nelement vertex 1\nproperty float128 x\nend_header\n1\n"); },
               {"header line 4", "unknown property type 'float128'"});
  expect_error([&] { parse("ply\nformat binary_middle_endian 1.0\nend_header\n"); }, {"header line 2", "unknown format"});
  expect_error([&] { parse("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n2\n"); },
               {"mem.ply", "declares 3 rows"});
  expect_error([&] { parse("ply\nformat ascii 1.0\nelement vertex 2\nproperty list uchar int idx\nend_header\n3 1 2 3\n4 1 2\n"); },
               {"mem.ply", "row 1", "unexpected end of file inside a list"});
  expect_error([&] { parse("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty int l\nend_header\n1 2\n1.5 abc\n"); },
               {"ascii line 8", "'abc' is not a valid int"});
  expect_error([&] { parse("ply\nformat ascii 1.0\nelement vertex -1\nproperty float x\nend_header\n"); }, {"non-negative"});
  expect_error([&] { ply_to_scene(parse("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n")); },
               {"no 'y' property"});
  expect_error([&] { read_ply("/nonexistent/q.ply"); }, {"/nonexistent/q.ply"});
}

// Found by the fuzzer: a list count beyond int64 (undefined conversion) and an element without properties
// declaring 9e18 rows (a loop that never ends). Both must answer at once.
TEST(Ply, FuzzRegressionsHugeCounts) {
  auto parse_str = [](const std::string& s) {
    return parse_ply(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "fuzz.ply");
  };
  expect_error([&] {
    parse_str("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nelement face 1\n"
              "property list uchar int vertex_indices\nend_header\n1\n9223372036854775810 1 2 3\n");
  }, {"fuzz.ply", "list count"});
  PlyData d = parse_str("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
                        "element junk 9000000000000000000\nend_header\n1\n");
  EXPECT_EQ(d.num_vertices, 1);
  expect_error([&] { parse_str("ply\nformat ascii 1.0\nelement vertex 5\nend_header\n"); }, {"no properties"});
}
