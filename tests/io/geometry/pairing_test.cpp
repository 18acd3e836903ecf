// SPDX-License-Identifier: Apache-2.0
// 2D-3D pairing: a hand-made camera with known pixels, brute force against an independent Eigen
// projection on a rendered synthetic view, LiDAR mode, random crops.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "io/geometry/pairing.h"
#include "io/synthetic/generator.h"

using namespace leseg;
using namespace leseg::io;

namespace {
View hand_view(int h, int w) {
  View v;
  v.name = "hand";
  v.depth = Tensor::zeros(Shape{h, w});
  v.intrinsics = Tensor::from_vector(std::vector<float>{50, 0, 4, 0, 50, 3, 0, 0, 1}, Shape{3, 3});
  // Camera at (0, 0, -2) looking along +z (identity rotation).
  v.cam_to_world = Tensor::from_vector(std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, -2, 0, 0, 0, 1}, Shape{4, 4});
  return v;
}
}  // namespace

TEST(Pairing, HandMadeCamera) {
  View v = hand_view(7, 9);
  float* d = v.depth.data<float>();
  d[3 * 9 + 4] = 2.04f;  // point (0,0,0): Z = 2, pixel (4, 3)
  d[5 * 9 + 6] = 3.0f;   // point (0.08, 0.08, 0): pixel (6, 5), depth off by 1 m -> rejected
  Tensor pts = Tensor::from_vector(std::vector<float>{0, 0, 0, 0.08f, 0.08f, 0, 0, 0, -3, 5, 0, 0}, Shape{4, 3});
  Tensor pairs = pair_points(pts, v);
  EXPECT_EQ(pairs.to_vector<int64_t>(), (std::vector<int64_t>{0, 3 * 9 + 4}));
  PairingOptions lidar;
  lidar.lidar = true;
  EXPECT_EQ(pair_points(pts, v, lidar).to_vector<int64_t>(), (std::vector<int64_t>{0, 3 * 9 + 4, 1, 5 * 9 + 6}));
  lidar.lidar_min_depth = 2.5f;
  EXPECT_EQ(pair_points(pts, v, lidar).numel(), 0);
  View bad = v;
  bad.depth = Tensor();
  EXPECT_THROW(pair_points(pts, bad), Error);
  EXPECT_THROW(pair_points(Tensor::zeros(Shape{3, 2}), v), Error);
}

TEST(Pairing, RenderedViewMatchesBruteForce) {
  synth::IndoorOptions o;
  o.height = 60; o.width = 80; o.num_views = 2; o.point_density = 150; o.geometric_segments = false;
  DatasetInfo info = synth::indoor_dataset_info(16, 0);
  Scene s = synth::generate_indoor_scene(3, info.text_embeddings, o);
  for (const View& v : s.views) {
    std::vector<float> K = v.intrinsics.to_vector<float>(), T = v.cam_to_world.to_vector<float>();
    Eigen::Matrix4d M;
    for (int i = 0; i < 16; ++i) M(i / 4, i % 4) = T[size_t(i)];
    Eigen::Matrix4d inv = M.inverse();
    std::vector<float> c = s.coords.to_vector<float>(), dep = v.depth.to_vector<float>();
    std::vector<int64_t> want;
    for (int64_t i = 0; i < s.num_points(); ++i) {
      Eigen::Vector4d X = inv * Eigen::Vector4d(c[size_t(3 * i)], c[size_t(3 * i + 1)], c[size_t(3 * i + 2)], 1);
      if (X.z() <= 0) continue;
      const double u = std::floor(K[0] * X.x() / X.z() + K[2] + 0.5), vv = std::floor(K[4] * X.y() / X.z() + K[5] + 0.5);
      if (u < 0 || u > 79 || vv < 0 || vv > 59) continue;
      const int64_t px = int64_t(vv) * 80 + int64_t(u);
      if (dep[size_t(px)] > 0 && std::fabs(dep[size_t(px)] - X.z()) <= 0.05) {
        want.push_back(i);
        want.push_back(px);
      }
    }
    std::vector<int64_t> got = pair_points(s.coords, v).to_vector<int64_t>();
    // Float vs double pose inversion may flip points sitting exactly on a rounding edge: allow 0.1%.
    size_t diff = 0, a = 0, b = 0;
    while (a < got.size() || b < want.size()) {
      if (a < got.size() && b < want.size() && got[a] == want[b] && got[a + 1] == want[b + 1]) { a += 2; b += 2; continue; }
      ++diff;
      if (b >= want.size() || (a < got.size() && got[a] < want[b])) a += 2; else b += 2;
    }
    EXPECT_GT(want.size() / 2, 500u);
    EXPECT_LE(diff, 1 + want.size() / 2000) << "view " << v.name;
  }
}

TEST(Pairing, RandomCropKeepsEnoughPairsAndMapsPixels) {
  const int H = 240, W = 320;
  std::vector<int64_t> pv;
  for (int64_t i = 0; i < H * W; i += 7) { pv.push_back(i); pv.push_back(i); }
  Tensor pairs = Tensor::from_vector(pv, Shape{int64_t(pv.size() / 2), 2});
  CropPairs a = random_crop_pairs(pairs, H, W, 5), b = random_crop_pairs(pairs, H, W, 5);
  EXPECT_TRUE(a.ok);
  EXPECT_GT(a.pairs.size(0), 1024);
  EXPECT_EQ(a.pairs.to_vector<int64_t>(), b.pairs.to_vector<int64_t>());
  const double ratio = double(a.width) / a.height;
  EXPECT_GE(ratio, 14.0 / 9.0 - 0.05);
  EXPECT_LE(ratio, 17.0 / 9.0 + 0.05);
  std::vector<int64_t> out = a.pairs.to_vector<int64_t>();
  for (size_t k = 0; k < out.size(); k += 2) {
    const int64_t src = out[k];  // the point index equals its source pixel here
    const int v = int(src / W) - a.top, u = int(src % W) - a.left;
    ASSERT_TRUE(v >= 0 && v < a.height && u >= 0 && u < a.width);
    ASSERT_EQ(out[k + 1], int64_t(v * 224 / a.height) * 416 + u * 416 / a.width);
  }
  CropOptions strict;
  strict.min_pairs = 1 << 30;
  CropPairs c = random_crop_pairs(pairs, H, W, 5, strict);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.tries, strict.max_tries);
}
