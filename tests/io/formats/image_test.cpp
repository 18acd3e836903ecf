// SPDX-License-Identifier: Apache-2.0
// Images: 8-bit RGB / grey PNG and 16-bit grey PNG write -> read round trips, JPEG decode of the nuScenes
// camera images, and errors on corrupt or wrong-kind files.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/formats/image.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;

TEST(Image, Png8RoundTrip) {
  leseg::testing::TempDir dir;
  const int64_t h = 17, w = 29;
  std::vector<uint8_t> px(size_t(h * w * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 37) % 256);
  write_png_rgb(dir.file("c.png"), Tensor::from_vector(px, Shape{h, w, 3}));
  Tensor r = read_image_rgb(dir.file("c.png"));
  ASSERT_EQ(r.shape(), (Shape{h, w, 3}));
  EXPECT_EQ(r.to_vector<uint8_t>(), px);
  EXPECT_EQ(image_size(dir.file("c.png")), std::make_pair(int(h), int(w)));
  // grey 8-bit: read as RGB replicates, read as u16 keeps the value
  std::vector<uint8_t> g(static_cast<size_t>(h * w));
  for (size_t i = 0; i < g.size(); ++i) g[i] = uint8_t(i % 251);
  write_png_rgb(dir.file("g.png"), Tensor::from_vector(g, Shape{h, w}));
  std::vector<int32_t> gv = read_image_u16(dir.file("g.png")).to_vector<int32_t>();
  std::vector<uint8_t> grgb = read_image_rgb(dir.file("g.png")).to_vector<uint8_t>();
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_EQ(gv[i], g[i]);
    ASSERT_EQ(grgb[3 * i + 1], g[i]);
  }
}

TEST(Image, Png16RoundTrip) {
  leseg::testing::TempDir dir;
  const int64_t h = 5, w = 300;
  std::vector<int32_t> v(static_cast<size_t>(h * w));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t((i * 7919) % 65536);
  v[0] = 0;
  v[1] = 65535;
  write_png_u16(dir.file("d.png"), Tensor::from_vector(v, Shape{h, w}));
  Tensor r = read_image_u16(dir.file("d.png"));
  ASSERT_EQ(r.shape(), (Shape{h, w}));
  EXPECT_EQ(r.to_vector<int32_t>(), v);
  expect_error([&] { write_png_u16(dir.file("x.png"), Tensor::from_vector<int32_t>({1, 70000}, Shape{1, 2})); },
               {"x.png", "70000", "outside [0, 65535]"});
  expect_error([&] { write_png_u16(dir.file("x.png"), Tensor::zeros(Shape{2, 2}, DType::f32)); }, {"expected i32 or i64"});
  expect_error([&] { read_image_u16(dir.file("nothing.png")); }, {"nothing.png", "cannot open"});
}

TEST(Image, CorruptAndWrongKind) {
  leseg::testing::TempDir dir;
  leseg::testing::write_bytes(dir.file("bad.png"), "\x89PNG\r\n\x1a\n garbage garbage");
  expect_error([&] { read_image_rgb(dir.file("bad.png")); }, {"bad.png"});
  write_png_rgb(dir.file("rgb.png"), Tensor::zeros(Shape{2, 2, 3}, DType::u8));
  expect_error([&] { read_image_u16(dir.file("rgb.png")); }, {"rgb.png", "single-channel"});
  expect_error([&] { write_png_rgb(dir.file("f.png"), Tensor::zeros(Shape{2, 2, 3}, DType::f32)); }, {"expected u8"});
}

TEST(Image, NuScenesJpegs) {
  LESEG_REQUIRE_SHARED_DATA(dir, "nuscenes-sample");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".jpg") continue;
    Tensor im = read_image_rgb(e.path().string());
    ASSERT_EQ(im.shape(), (Shape{900, 1600, 3})) << e.path();
    std::vector<uint8_t> v = im.to_vector<uint8_t>();
    double mean = 0;
    for (uint8_t x : v) mean += x;
    mean /= double(v.size());
    EXPECT_GT(mean, 20.0);
    EXPECT_LT(mean, 235.0);
    ++n;
  }
  EXPECT_EQ(n, 6);
}
