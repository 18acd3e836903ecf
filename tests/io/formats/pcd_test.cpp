// SPDX-License-Identifier: Apache-2.0
// PCD: ascii / binary / binary_compressed round trips (organised and not), LZF against hand-encoded
// streams and random data, rgba unpacking, NaN handling, corrupt files, and the two PCL mOSD clouds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "io/formats/lzf.h"
#include "io/formats/pcd.h"
#include "io/formats/point_cloud.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;

namespace {

PcdData parse(const std::string& s) { return parse_pcd(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "mem.pcd"); }

const std::string kHead =
    "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z rgb label\nSIZE 4 4 4 4 2\nTYPE F F F F U\nCOUNT 1 1 1 1 1\n"
    "WIDTH 3\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 3\n";

}  // namespace

TEST(Lzf, DecodesHandEncodedStream) {
  // literal "abc" then a back reference of length 6 at distance 3 -> "abcabcabc"
  std::vector<uint8_t> z = {2, 'a', 'b', 'c', uint8_t((4 << 5) | 0), 2};
  std::vector<uint8_t> out = lzf_decompress(z.data(), z.size(), 9, "t");
  EXPECT_EQ(std::string(out.begin(), out.end()), "abcabcabc");
  expect_error([&] { lzf_decompress(z.data(), z.size(), 8, "t"); }, {"LZF output overflow"});
  expect_error([&] { lzf_decompress(z.data(), z.size(), 10, "t"); }, {"decompressed to 9 bytes"});
  std::vector<uint8_t> bad = {uint8_t((1 << 5) | 0), 5};
  expect_error([&] { lzf_decompress(bad.data(), bad.size(), 3, "t"); }, {"before the start of the output"});
  std::vector<uint8_t> trunc = {5, 'a', 'b'};
  expect_error([&] { lzf_decompress(trunc.data(), trunc.size(), 6, "t"); }, {"runs past the input"});
}

TEST(Lzf, RoundTripRandomAndRepetitive) {
  for (int kind = 0; kind < 3; ++kind) {
    std::vector<uint8_t> in(50000 + kind * 1237);
    uint64_t s = 88172645463325252ull + uint64_t(kind);
    for (size_t i = 0; i < in.size(); ++i) {
      s ^= s << 13; s ^= s >> 7; s ^= s << 17;
      in[i] = kind == 0 ? uint8_t(s) : kind == 1 ? uint8_t((i / 300) % 7) : uint8_t((s % 4 == 0) ? s >> 8 : i % 251);
    }
    std::vector<uint8_t> z = lzf_compress(in.data(), in.size());
    std::vector<uint8_t> out = lzf_decompress(z.data(), z.size(), in.size(), "rt");
    EXPECT_EQ(out, in) << "kind " << kind;
    if (kind == 1) {
      EXPECT_LT(z.size(), in.size() / 20);
    }
  }
  std::vector<uint8_t> none = lzf_compress(nullptr, 0);
  EXPECT_TRUE(none.empty());
}

TEST(Pcd, AsciiWithPackedRgbAndLabels) {
  // PCL's float "rgb" leaves alpha 0 (0x00RRGGBB) so the float is finite and survives ascii printing
  uint32_t c0 = 0x00102030u, c1 = 0x00FF0000u, c2 = 0x000000FFu;
  float f0, f1, f2;
  std::memcpy(&f0, &c0, 4); std::memcpy(&f1, &c1, 4); std::memcpy(&f2, &c2, 4);
  char body[512];
  std::snprintf(body, sizeof body, "DATA ascii\n1 2 3 %.9g 7\nnan nan nan %.9g 0\n-1 0.5 2 %.9g 65535\n", double(f0), double(f1), double(f2));
  PcdData d = parse(kHead + body);
  ASSERT_EQ(d.points, 3);
  EXPECT_EQ(d.format, PcdDataFormat::ascii);
  ReadReport rep;
  PcdCloud keep = pcd_to_cloud(d, false, &rep);
  EXPECT_EQ(rep.nan_kept_invalid, 1);
  EXPECT_EQ(keep.coords.to_vector<float>(), (std::vector<float>{1, 2, 3, 0, 0, 0, -1, 0.5f, 2}));
  EXPECT_EQ(keep.valid.to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(keep.colors.to_vector<uint8_t>(), (std::vector<uint8_t>{0x10, 0x20, 0x30, 255, 0, 0, 0, 0, 255}));
  EXPECT_EQ(keep.labels.to_vector<int32_t>(), (std::vector<int32_t>{7, 0, 65535}));
  PcdCloud drop = pcd_to_cloud(d, true, &rep);
  EXPECT_EQ(rep.nan_dropped, 1);
  EXPECT_EQ(drop.index.to_vector<int64_t>(), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(drop.labels.to_vector<int32_t>(), (std::vector<int32_t>{7, 65535}));
}

TEST(Pcd, RoundTripAllDataFormatsOrganised) {
  leseg::testing::TempDir dir;
  const int64_t w = 13, h = 7, n = w * h;
  Tensor coords = Tensor::randn(Shape{n, 3}, 5);
  std::vector<float> xyz = coords.to_vector<float>();
  xyz[3 * 4 + 2] = std::nanf("");  // an invalid pixel
  coords = Tensor::from_vector(xyz, Shape{n, 3});
  std::vector<uint8_t> col(size_t(3 * n));
  std::vector<int32_t> lab(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) col[size_t(3 * i + k)] = uint8_t(i * 3 + k * 50);
    lab[size_t(i)] = int32_t(i % 4 == 0 ? 20 + i % 3 : 1);
  }
  PcdData src = cloud_to_pcd(coords, Tensor::from_vector(col, Shape{n, 3}), Tensor::from_vector(lab, Shape{n}), w, h);
  // an extra multi-count field of another type
  src.fields.push_back(PcdField{"feat", 8, 'F', 2});
  std::vector<uint8_t> feat(size_t(n) * 16);
  for (int64_t i = 0; i < 2 * n; ++i) { double v = double(i) * 0.25 - 3; std::memcpy(feat.data() + 8 * i, &v, 8); }
  src.columns.push_back(feat);
  for (PcdDataFormat f : {PcdDataFormat::ascii, PcdDataFormat::binary, PcdDataFormat::binary_compressed}) {
    std::string p = dir.file("c" + std::to_string(int(f)) + ".pcd");
    write_pcd(p, src, f);
    PcdData r = read_pcd(p);
    EXPECT_EQ(r.width, w);
    EXPECT_EQ(r.height, h);
    ASSERT_EQ(r.fields.size(), src.fields.size());
    for (size_t k = 0; k < src.fields.size(); ++k) {
      EXPECT_EQ(r.fields[k].name, src.fields[k].name);
      EXPECT_EQ(r.fields[k].count, src.fields[k].count);
      // NaN bit patterns: compare values with NaN == NaN
      for (int64_t i = 0; i < n; ++i)
        for (int c = 0; c < src.fields[k].count; ++c) {
          double a = r.value(int(k), i, c), b = src.value(int(k), i, c);
          ASSERT_TRUE((std::isnan(a) && std::isnan(b)) || a == b) << "format " << int(f) << " field " << src.fields[k].name << " point " << i;
        }
    }
    ReadReport rep;
    PcdCloud cl = pcd_to_cloud(r, false, &rep);
    EXPECT_TRUE(cl.organised());
    EXPECT_EQ(rep.nan_kept_invalid, 1);
    EXPECT_FALSE(cl.valid.to_vector<bool>()[4]);
    EXPECT_EQ(cl.colors.to_vector<uint8_t>(), col);
    EXPECT_EQ(cl.labels.to_vector<int32_t>(), lab);
  }
}

TEST(Pcd, EmptyCloudInEveryDataFormat) {
  // POINTS 0 is legal (PCL writes it for an empty cloud); binary_compressed then has an 8-byte size header and no
  // payload. Found by fuzzing: the empty payload must not be copied from a null buffer.
  const std::string head = "VERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F U\nWIDTH 0\nHEIGHT 1\nPOINTS 0\n";
  for (const std::string& tail : {std::string("DATA ascii\n"), std::string("DATA binary\n"),
                                  std::string("DATA binary_compressed\n") + std::string(8, '\0')}) {
    leseg::io::PcdData p = parse(head + tail);
    EXPECT_EQ(p.points, 0) << tail;
    ASSERT_EQ(p.fields.size(), 4u);
    for (const auto& c : p.columns) EXPECT_TRUE(c.empty()) << tail;
  }
}

TEST(Pcd, Errors) {
  std::string bin_head = "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 4\nHEIGHT 1\nPOINTS 4\n";
  expect_error([&] { parse(bin_head + "DATA binary\n" + std::string(40, '\0')); }, {"mem.pcd", "truncated PCD binary data", "48 bytes"});
  expect_error([&] { parse(bin_head + "DATA ascii\n1 2 3\n4 5 6\n7 8 9\n"); }, {"mem.pcd", "ascii", "unexpected end of file"});
  expect_error([&] { parse(bin_head + "DATA ascii\n1 2 3\n4 5 6\n7 8 9\n1 x 3\n"); }, {"ascii line 13", "point 3", "'x' is not a number"});
  expect_error([&] { parse(bin_head + "DATA lzma\n"); }, {"header line 9", "unknown DATA format 'lzma'"});
  expect_error([&] { parse("VERSION 0.7\nFIELDS x y z\nSIZE 4 4\nTYPE F F F\nWIDTH 1\nPOINTS 1\nDATA ascii\n1 2 3\n"); },
               {"SIZE has 2 entries for 3 FIELDS"});
  expect_error([&] { parse("VERSION 0.7\nFIELDS x\nSIZE 3\nTYPE F\nWIDTH 1\nPOINTS 1\nDATA ascii\n1\n"); }, {"unsupported TYPE F SIZE 3"});
  expect_error([&] { parse("VERSION 0.7\nFIELDS x\nSIZE 4\nTYPE F\nWIDTH 2\nHEIGHT 2\nPOINTS 3\nDATA ascii\n1\n2\n3\n"); },
               {"POINTS 3 != WIDTH*HEIGHT"});
  expect_error([&] { parse("hello world\n"); }, {"unknown header keyword 'hello'"});
  // An unsigned field written as a float (packed rgb) must be range-checked before conversion (found by fuzzing).
  for (const char* tok : {"8E88", "-1.5", "nan", "inf", "1.9e19"})
    expect_error([&] { parse(std::string("VERSION 0.7\nFIELDS x rgb\nSIZE 4 4\nTYPE F U\nWIDTH 1\nPOINTS 1\nDATA ascii\n1 ") + tok + "\n"); },
                 {"mem.pcd", "out of range for an unsigned field"});
  expect_error([&] { parse("VERSION 0.7\nFIELDS x\n"); }, {"no DATA line"});
  // binary_compressed: wrong declared sizes, truncated payload, corrupt stream
  auto u32 = [](uint32_t v) { std::string s(4, '\0'); std::memcpy(s.data(), &v, 4); return s; };
  expect_error([&] { parse(bin_head + "DATA binary_compressed\n" + u32(10) + u32(47) + std::string(10, '\0')); },
               {"uncompressed size 47", "!= POINTS*point size 48"});
  expect_error([&] { parse(bin_head + "DATA binary_compressed\n" + u32(100) + u32(48) + std::string(10, '\0')); },
               {"truncated PCD binary_compressed data"});
  expect_error([&] { parse(bin_head + "DATA binary_compressed\n" + u32(2) + u32(48) + std::string("\x20\x05", 2)); },
               {"mem.pcd", "LZF"});
  expect_error([&] { parse(bin_head + "DATA binary_compressed\n" + "\x01\x02"); }, {"needs 8 bytes"});
  expect_error([&] { pcd_to_cloud(parse("VERSION 0.7\nFIELDS a b\nSIZE 4 4\nTYPE F F\nWIDTH 1\nPOINTS 1\nDATA ascii\n1 2\n")); },
               {"fields x y z required"});
}

TEST(Pcd, RealMosdOrganisedClouds) {
  LESEG_REQUIRE_SHARED_DATA(dir, "pcl-mosd");
  for (const char* name : {"learn0.pcd", "test55.pcd"}) {
    std::string p = dir + "/" + name;
    PcdData d = read_pcd(p);
    EXPECT_EQ(d.format, PcdDataFormat::binary_compressed);
    ASSERT_EQ(d.width, 640);
    ASSERT_EQ(d.height, 480);
    ReadReport rep;
    PcdCloud c = pcd_to_cloud(d, false, &rep);
    ASSERT_EQ(c.coords.size(0), 640 * 480);
    std::vector<bool> valid = c.valid.to_vector<bool>();
    std::vector<int32_t> lab = c.labels.to_vector<int32_t>();
    std::vector<float> xyz = c.coords.to_vector<float>();
    int64_t nvalid = 0, nan_label0 = 0;
    std::map<int, int64_t> hist;
    double zmin = 1e9, zmax = -1e9;
    for (size_t i = 0; i < valid.size(); ++i) {
      if (valid[i]) {
        ++nvalid;
        ++hist[lab[i]];
        zmin = std::min(zmin, double(xyz[3 * i + 2]));
        zmax = std::max(zmax, double(xyz[3 * i + 2]));
      } else if (lab[i] == 0) {
        ++nan_label0;
      }
    }
    // README: label 0 = NaN points, 1..9 table, 20+ objects; Kinect depth within a few metres.
    EXPECT_EQ(nvalid + rep.nan_kept_invalid, 640 * 480);
    EXPECT_GT(nvalid, 50000) << name;
    EXPECT_EQ(nan_label0, rep.nan_kept_invalid) << name << ": every NaN point should carry label 0";
    EXPECT_GT(hist.size(), 2u) << name;
    bool has_table = false, has_object = false;
    for (auto& [l, cnt] : hist) {
      has_table |= l >= 1 && l <= 9;
      has_object |= l >= 20;
    }
    EXPECT_TRUE(has_table && has_object) << name;
    EXPECT_GT(zmin, 0.2);
    EXPECT_LT(zmax, 5.0);
    // colours are non-trivial
    std::vector<uint8_t> col = c.colors.to_vector<uint8_t>();
    int64_t nonzero = 0;
    for (uint8_t v : col) nonzero += v != 0;
    EXPECT_GT(nonzero, int64_t(col.size() / 4));
    // pixel geometry: a valid point projects back to its pixel with the Kinect intrinsics
    int64_t checked = 0, ok = 0;
    for (size_t i = 0; i < valid.size(); i += 97) {
      if (!valid[i]) continue;
      double u = 525.0 * xyz[3 * i] / xyz[3 * i + 2] + 319.5, v = 525.0 * xyz[3 * i + 1] / xyz[3 * i + 2] + 239.5;
      ++checked;
      ok += std::abs(u - double(i % 640)) < 1.5 && std::abs(v - double(i / 640)) < 1.5;
    }
    EXPECT_GT(checked, 100);
    EXPECT_GT(ok, checked * 9 / 10) << name << ": organised order does not match the pixel grid";
    std::printf("%s: %lld valid points, %zu labels, z in [%.2f, %.2f]\n", name, (long long)nvalid, hist.size(), zmin, zmax);
  }
}
