// SPDX-License-Identifier: Apache-2.0
// .sens (ScanNet RGB-D stream): a file the test writes itself (JPEG colour, zlib depth, poses, one lost-tracking
// frame), read back frame by frame, turned into views at a stride, converted with `--from scannet-sens`; and
// hand-truncated copies whose errors must name the file and the frame.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "io/convert.h"
#include "io/datasets/scannet_sens.h"
#include "io/datasets/scene_io.h"
#include "io/formats/file_io.h"
#include "io/formats/ply.h"
#include "io/formats/sens.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;
using leseg::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kCW = 64, kCH = 48, kDW = 32, kDH = 24, kFrames = 5;

SensHeader make_header() {
  SensHeader h;
  h.sensor_name = "StructureSensor";
  // Colour camera: twice the depth camera's focal length, centre at 2 c_d + 0.5 (pixel centres).
  const float kc[16] = {60, 0, 31.5f, 0, 0, 60, 23.5f, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  const float kd[16] = {30, 0, 15.5f, 0, 0, 30, 11.5f, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  const float id[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  std::copy(kc, kc + 16, h.intrinsic_color);
  std::copy(kd, kd + 16, h.intrinsic_depth);
  std::copy(id, id + 16, h.extrinsic_color);
  std::copy(id, id + 16, h.extrinsic_depth);
  h.color_width = kCW;
  h.color_height = kCH;
  h.depth_width = kDW;
  h.depth_height = kDH;
  h.depth_shift = 1000.0f;
  h.num_frames = kFrames;
  return h;
}

Tensor frame_color(int f) {  // smooth gradients (JPEG keeps them within a few levels)
  std::vector<uint8_t> px(size_t(kCW * kCH * 3));
  for (int y = 0; y < kCH; ++y)
    for (int x = 0; x < kCW; ++x) {
      px[size_t((y * kCW + x) * 3 + 0)] = uint8_t(2 * x + 20 * f);
      px[size_t((y * kCW + x) * 3 + 1)] = uint8_t(3 * y + 10);
      px[size_t((y * kCW + x) * 3 + 2)] = uint8_t(128);
    }
  return Tensor::from_vector(px, Shape{kCH, kCW, 3});
}

Tensor frame_depth(int f) {  // millimetre-exact metres, some invalid (0)
  std::vector<float> d(size_t(kDW * kDH));
  for (int i = 0; i < kDW * kDH; ++i) d[size_t(i)] = (i % 7 == 0) ? 0.0f : float(500 + 3 * i + 100 * f) / 1000.0f;
  return Tensor::from_vector(d, Shape{kDH, kDW});
}

// 5 frames; frame 2's pose is -inf (ScanNet's lost tracking). Returns the frames written.
std::vector<SensFrame> write_test_sens(const std::string& path) {
  SensHeader h = make_header();
  std::vector<SensFrame> frames;
  for (int f = 0; f < kFrames; ++f) {
    float pose[16] = {1, 0, 0, 0.1f * f, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    if (f == 2) std::fill(pose, pose + 16, -INFINITY);
    SensFrame fr = encode_sens_frame(h, frame_color(f), frame_depth(f), pose);
    fr.timestamp_color = fr.timestamp_depth = uint64_t(1000 * f);
    frames.push_back(std::move(fr));
  }
  write_sens(path, h, frames);
  return frames;
}

void truncate_to(const std::string& src, const std::string& dst, size_t size) {
  std::vector<uint8_t> b = read_file_bytes(src);
  ASSERT_LT(size, b.size());
  write_file_bytes(dst, b.data(), size);
}

}  // namespace

TEST(Sens, RoundTripHeaderFramesDepthAndColour) {
  TempDir t;
  const std::string p = t.file("scene.sens");
  write_test_sens(p);
  SensReader rd(p);
  EXPECT_EQ(rd.header().sensor_name, "StructureSensor");
  EXPECT_EQ(rd.header().num_frames, uint64_t(kFrames));
  EXPECT_EQ(rd.header().color_width, uint32_t(kCW));
  EXPECT_FLOAT_EQ(rd.header().intrinsic_depth[0], 30.0f);
  SensFrame f;
  int n = 0;
  while (rd.next(&f)) {
    EXPECT_EQ(f.timestamp_color, uint64_t(1000 * n));
    Tensor d = rd.decode_depth(f), want = frame_depth(n);
    ASSERT_EQ(d.shape(), want.shape());
    const float *a = d.data<float>(), *b = want.data<float>();
    for (int64_t i = 0; i < d.numel(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6) << "frame " << n << " pixel " << i;
    Tensor c = rd.decode_color(f), cw = frame_color(n);
    ASSERT_EQ(c.shape(), cw.shape());
    int maxdiff = 0;
    for (int64_t i = 0; i < c.numel(); ++i) maxdiff = std::max(maxdiff, std::abs(int(c.data<uint8_t>()[i]) - int(cw.data<uint8_t>()[i])));
    EXPECT_LE(maxdiff, 12) << "JPEG round trip of a smooth gradient, frame " << n;
    if (n != 2) EXPECT_FLOAT_EQ(f.cam_to_world[3], 0.1f * n);
    ++n;
  }
  EXPECT_EQ(n, kFrames);
}

TEST(Sens, ViewsAtStrideSkipLostTrackingAndRegisterColour) {
  TempDir t;
  const std::string p = t.file("scene.sens");
  write_test_sens(p);
  ScanNetReport rep;
  std::vector<View> v = read_scannet_sens_views(p, ScanNetFrameOptions{2, -1, true}, &rep);
  ASSERT_EQ(v.size(), 2u);  // frames 0, 2 (inf pose: skipped), 4
  EXPECT_EQ(rep.frames_bad_pose, 1);
  EXPECT_EQ(v[0].name, "0");
  EXPECT_EQ(v[1].name, "4");
  EXPECT_FLOAT_EQ(v[1].cam_to_world.to_vector<float>()[3], 0.4f);
  EXPECT_EQ(v[1].intrinsics.to_vector<float>()[0], 30.0f);  // the depth camera's
  ASSERT_EQ(v[1].image.shape(), (Shape{kDH, kDW, 3}));
  ASSERT_EQ(v[1].depth.shape(), (Shape{kDH, kDW}));
  // depth pixel (x, y) sees colour pixel (2x + 1, 2y + 1): 31.5 + 2 (x - 15.5) = 2x + 0.5 rounds away from zero.
  Tensor c = frame_color(4);
  for (int y : {0, 5, 23})
    for (int x : {0, 9, 31})
      for (int ch = 0; ch < 3; ++ch) {
        int got = v[1].image.data<uint8_t>()[(y * kDW + x) * 3 + ch];
        int want = c.data<uint8_t>()[((2 * y + 1) * kCW + 2 * x + 1) * 3 + ch];
        EXPECT_NEAR(got, want, 12) << "x " << x << " y " << y << " ch " << ch;
      }
  // max_frames
  EXPECT_EQ(read_scannet_sens_views(p, ScanNetFrameOptions{1, 3, false}).size(), 3u);
}

TEST(Sens, TruncatedFilesNameTheFileAndTheFrame) {
  TempDir t;
  const std::string p = t.file("scene.sens");
  std::vector<SensFrame> frames = write_test_sens(p);
  const size_t full = fs::file_size(p);
  // In the header (inside intrinsic_color).
  const std::string h = t.file("cut_header.sens");
  truncate_to(p, h, 60);
  expect_error([&] { SensReader r(h); }, {"cut_header.sens", "(header)", "truncated", "intrinsic_color"});
  // In the last frame's depth bytes (the file ends with an 8-byte IMU count after it).
  const std::string d = t.file("cut_depth.sens");
  truncate_to(p, d, full - 8 - 5);
  expect_error([&] {
    SensReader r(d);
    SensFrame f;
    while (r.next(&f)) {}
  }, {"cut_depth.sens", "frame 4", "truncated"});
  // In frame 1's colour: the frame sizes announce more than is left (caught before any allocation).
  size_t header_bytes = 4 + 8 + 15 + 4 * 64 + 6 * 4 + 4 + 8;
  size_t frame0 = 64 + 4 * 8 + frames[0].color.size() + frames[0].depth.size();
  const std::string c = t.file("cut_colour.sens");
  truncate_to(p, c, header_bytes + frame0 + 64 + 32 + 10);
  expect_error([&] {
    SensReader r(c);
    SensFrame f;
    while (r.next(&f, /*payload=*/false)) {}
  }, {"cut_colour.sens", "frame 1", "truncated"});
  // Through the views reader too, and a header announcing more frames than the file can hold.
  expect_error([&] { read_scannet_sens_views(d, ScanNetFrameOptions{1, -1, false}); }, {"cut_depth.sens", "frame 4"});
  std::vector<uint8_t> b = read_file_bytes(p);
  uint64_t many = 1000000;
  std::memcpy(b.data() + header_bytes - 8, &many, 8);
  const std::string m = t.file("many_frames.sens");
  write_file_bytes(m, b.data(), b.size());
  expect_error([&] { SensReader r(m); }, {"many_frames.sens", "1000000 frames", "truncated"});
  // Not a .sens file at all.
  const std::string junk = t.file("junk.sens");
  write_file_bytes(junk, "hello world, not a sens file", 28);
  expect_error([&] { SensReader r(junk); }, {"junk.sens", "version"});
}

TEST(Sens, ConvertFromScannetSens) {
  TempDir t;
  fs::path d = t.path / "src" / "scene0000_00";
  fs::create_directories(d);
  std::vector<double> x = {0, 1, 2, 3}, y(4, 0.5), z = {0, 0, 1, 1}, r = {10, 20, 30, 40};
  write_ply((d / "scene0000_00_vh_clean_2.ply").string(),
            {{"x", PlyType::f32, x}, {"y", PlyType::f32, y}, {"z", PlyType::f32, z}, {"red", PlyType::u8, r},
             {"green", PlyType::u8, r}, {"blue", PlyType::u8, r}});
  write_ply((d / "scene0000_00_vh_clean_2.labels.ply").string(),
            {{"x", PlyType::f32, x}, {"y", PlyType::f32, y}, {"z", PlyType::f32, z}, {"label", PlyType::u16, {5, 1, 0, 5}}});
  write_test_sens((d / "scene0000_00.sens").string());
  ConvertOptions o;
  o.frame_stride = 2;
  ConvertResult res = convert("scannet-sens", (t.path / "src").string(), (t.path / "dst").string(), o);
  EXPECT_EQ(res.scenes, 1);
  EXPECT_EQ(res.views, 2);
  Scene s = read_scene((t.path / "dst" / "scenes" / "scene0000_00").string());
  ASSERT_EQ(s.views.size(), 2u);
  EXPECT_EQ(s.views[1].name, "4");
  EXPECT_EQ(s.labels.to_vector<int32_t>()[1], 0);  // NYU40 wall -> ScanNet20 wall (0)
  Tensor dep = frame_depth(4);
  EXPECT_NEAR(s.views[1].depth.data<float>()[5], dep.data<float>()[5], 1e-6);  // u16 mm round trip
  // Without a .sens next to the mesh: a clear error.
  fs::remove(d / "scene0000_00.sens");
  expect_error([&] { convert("scannet-sens", (t.path / "src").string(), (t.path / "dst2").string(), o); },
               {"scene0000_00.sens", "does not exist"});
}
