// SPDX-License-Identifier: Apache-2.0
// .npy: round trips for every written dtype, hand-built v1/v2/v3 headers, big-endian conversion,
// widened dtypes, and clear errors for Fortran order, bad magic, truncation and unsupported dtypes.
#include <gtest/gtest.h>

#include <cstring>

#include "io/formats/npy.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;

namespace {

// Builds a .npy byte string with the given version, header dict and raw payload.
std::string make_npy(int major, const std::string& dict, const std::string& payload) {
  std::string h = dict;
  size_t pre = major == 1 ? 10 : 12;
  while ((pre + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string s = "\x93NUMPY";
  s += char(major);
  s += char(0);
  if (major == 1) {
    s += char(h.size() & 0xff);
    s += char(h.size() >> 8);
  } else {
    for (int k = 0; k < 4; ++k) s += char((h.size() >> (8 * k)) & 0xff);
  }
  return s + h + payload;
}

template <class T>
std::string raw(const std::vector<T>& v, bool big = false) {
  std::string s(v.size() * sizeof(T), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  if (big)
    for (size_t i = 0; i < v.size(); ++i) std::reverse(s.begin() + long(i * sizeof(T)), s.begin() + long((i + 1) * sizeof(T)));
  return s;
}

Tensor parse(const std::string& s) { return parse_npy(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "mem.npy"); }

}  // namespace

TEST(Npy, RoundTripEveryDtype) {
  leseg::testing::TempDir dir;
  std::vector<Tensor> ts = {
      Tensor::from_vector<float>({1.5f, -2.f, 3.25f, 0.f, 7.f, -9.5f}, Shape{2, 3}),
      Tensor::from_vector<double>({1e-300, -2.5, 3.0}, Shape{3}),
      Tensor::from_vector<int32_t>({-1, 0, 2147483647, 5, 6, 7, 8}, Shape{7}),
      Tensor::from_vector<int64_t>({int64_t(1) << 40, -3}, Shape{2, 1}),
      Tensor::from_vector<uint8_t>({0, 255, 17, 3}, Shape{2, 2}),
      Tensor::from_vector<bool>({true, false, true}, Shape{3}),
      Tensor::from_vector<float>({}, Shape{0, 3}),
      Tensor::from_vector<float>({42.f}, Shape{}),
      Tensor::from_vector<int32_t>(std::vector<int32_t>(2 * 3 * 5 * 1 * 2 * 1, 9), Shape{2, 3, 5, 1, 2, 1}),
  };
  for (size_t k = 0; k < ts.size(); ++k) {
    std::string p = dir.file("t" + std::to_string(k) + ".npy");
    write_npy(p, ts[k]);
    Tensor r = read_npy(p);
    ASSERT_EQ(r.dtype(), ts[k].dtype()) << k;
    ASSERT_EQ(r.shape(), ts[k].shape()) << k;
    ASSERT_EQ(r.nbytes(), ts[k].nbytes());
    if (r.nbytes()) {
      EXPECT_EQ(std::memcmp(r.data_ptr(), ts[k].data_ptr(), r.nbytes()), 0) << k;
    }
  }
}

TEST(Npy, HeaderIsNumpyCompatible) {
  std::vector<uint8_t> b = encode_npy(Tensor::from_vector<float>({1, 2, 3}, Shape{3}));
  std::string s(b.begin(), b.end());
  EXPECT_EQ(s.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(s.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"), std::string::npos);
  size_t hlen = size_t(uint8_t(s[8])) | size_t(uint8_t(s[9])) << 8;
  EXPECT_EQ((10 + hlen) % 64, 0u);
  EXPECT_EQ(s[10 + hlen - 1], '\n');
}

TEST(Npy, Versions2And3AndWidening) {
  for (int v : {1, 2, 3}) {
    Tensor t = parse(make_npy(v, "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }", raw<uint16_t>({0, 1, 65535, 300})));
    ASSERT_EQ(t.dtype(), DType::i32);
    EXPECT_EQ(t.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 65535, 300})) << "version " << v;
  }
  Tensor u4 = parse(make_npy(1, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", raw<uint32_t>({4294967295u, 7})));
  ASSERT_EQ(u4.dtype(), DType::i64);
  EXPECT_EQ(u4.to_vector<int64_t>(), (std::vector<int64_t>{4294967295LL, 7}));
  Tensor i2 = parse(make_npy(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", raw<int16_t>({-1, 20, -32768})));
  EXPECT_EQ(i2.to_vector<int32_t>(), (std::vector<int32_t>{-1, 20, -32768}));
  Tensor i1 = parse(make_npy(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", raw<int8_t>({-100, 5})));
  EXPECT_EQ(i1.to_vector<int32_t>(), (std::vector<int32_t>{-100, 5}));
  // key order and quotes as other writers produce them
  Tensor b = parse(make_npy(1, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"|b1\"}", std::string("\x01\x00\x02", 3)));
  EXPECT_EQ(b.to_vector<bool>(), (std::vector<bool>{true, false, true}));
}

TEST(Npy, BigEndianIsConverted) {
  Tensor f = parse(make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", raw<float>({1.5f, -2.f, 1e20f}, true)));
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{1.5f, -2.f, 1e20f}));
  Tensor i = parse(make_npy(1, "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }", raw<int64_t>({-5, int64_t(1) << 50}, true)));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{-5, int64_t(1) << 50}));
}

TEST(Npy, Errors) {
  std::string good = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", raw<float>({1, 2, 3, 4}));
  expect_error([&] { parse(make_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", raw<float>({1, 2, 3, 4}))); },
               {"mem.npy", "fortran_order True"});
  expect_error([&] { parse("not an npy file at all"); }, {"mem.npy", "bad magic"});
  expect_error([&] { parse(good.substr(0, good.size() - 3)); }, {"mem.npy", "truncated .npy data", "16 bytes"});
  expect_error([&] { parse(good.substr(0, 40)); }, {"mem.npy", "truncated .npy header"});
  expect_error([&] { parse(make_npy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", raw<float>({1, 2}))); },
               {"mem.npy", "'<c8' not supported"});
  expect_error([&] { parse(make_npy(1, "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", raw<uint64_t>({1}))); },
               {"'<u8' not supported"});
  expect_error([&] { parse(make_npy(1, "{'descr': '<f4', 'shape': (1,), }", raw<float>({1}))); }, {"'fortran_order'"});
  expect_error([&] { parse(make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,x), }", raw<float>({1}))); },
               {"bad dimension"});
  std::string v9 = good;
  v9[6] = 9;
  expect_error([&] { parse(v9); }, {"version 9"});
  expect_error([&] { read_npy("/nonexistent/dir/x.npy"); }, {"/nonexistent/dir/x.npy", "cannot open"});
  expect_error([&] { encode_npy(Tensor::zeros(Shape{2}, DType::bf16)); }, {"bf16"});
}
