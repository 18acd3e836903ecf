// SPDX-License-Identifier: Apache-2.0
// Augmentation invariants: rigid parts preserve pairwise distances, scale/jitter stay in range, normals stay
// unit and normal to the transformed surface, colours follow RGB/127.5 - 1, draws are seeded.
#include <gtest/gtest.h>

#include <cmath>

#include "io/loader/augment.h"
#include "io/synthetic/random.h"

namespace leseg::io::loader {
namespace {

Tensor random_points(int64_t n, uint64_t seed) {
  synth::Rng rng(seed);
  std::vector<float> v(size_t(3 * n));
  for (float& x : v) x = float(rng.uniform(-3.0, 5.0));
  return Tensor::from_vector(v, Shape{n, 3});
}

double dist(const float* a, const float* b) {
  double s = 0;
  for (int k = 0; k < 3; ++k) s += (double(a[k]) - b[k]) * (double(a[k]) - b[k]);
  return std::sqrt(s);
}

TEST(Augment, RotationAndFlipsPreservePairwiseDistances) {
  const int64_t n = 97;
  Tensor p = random_points(n, 1);
  AugmentOptions o;
  o.scale_lo = o.scale_hi = 1.0;
  o.jitter_sigma = 0;
  int flipped = 0, rotated = 0;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    PointTransform t = draw_transform(p, o, seed);
    flipped += t.flip_x || t.flip_y;
    rotated += t.theta > 1e-3;
    EXPECT_GE(t.theta, 0.0);
    EXPECT_LT(t.theta, 6.283185307179586);
    Tensor q = augment_coords(p, t, o, seed);
    const float* a = p.data<float>();
    const float* b = q.data<float>();
    double moved = 0;
    for (int64_t i = 0; i < n; ++i) {
      moved = std::max(moved, dist(a + 3 * i, b + 3 * i));
      for (int64_t j = i + 1; j < n; j += 7) {
        const double d0 = dist(a + 3 * i, a + 3 * j), d1 = dist(b + 3 * i, b + 3 * j);
        ASSERT_NEAR(d0, d1, 1e-5 * (1 + d0)) << "seed " << seed << " pair " << i << "," << j;
      }
    }
    EXPECT_GT(moved, 0.1);  // non-trivial
    // centred: the mean is at the origin
    double m[3] = {0, 0, 0};
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) m[k] += b[3 * i + k];
    for (double x : m) EXPECT_NEAR(x / n, 0.0, 1e-5);
  }
  EXPECT_GT(flipped, 0);
  EXPECT_GT(rotated, 8);
}

TEST(Augment, ScaleAndJitterStayInRange) {
  const int64_t n = 211;
  Tensor p = random_points(n, 2);
  AugmentOptions o;
  o.rotate_z = false;
  o.flip_x = o.flip_y = 0;
  o.scale_lo = 0.8;
  o.scale_hi = 1.2;
  o.jitter_sigma = 0.01;
  o.jitter_clip = 0.02;
  PointTransform t = draw_transform(p, o, 5);
  bool anisotropic = false;
  for (int k = 0; k < 3; ++k) {
    EXPECT_GE(t.scale[k], 0.8);
    EXPECT_LE(t.scale[k], 1.2);
    anisotropic |= std::fabs(t.scale[k] - t.scale[0]) > 1e-6;
  }
  EXPECT_TRUE(anisotropic);
  Tensor q = augment_coords(p, t, o, 5);
  const float* a = p.data<float>();
  const float* b = q.data<float>();
  double maxj = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      const double expect = t.scale[k] * (a[3 * i + k] - t.center[k]);
      const double j = std::fabs(b[3 * i + k] - expect);
      ASSERT_LE(j, 0.02 + 1e-5) << "point " << i;
      maxj = std::max(maxj, j);
    }
  EXPECT_GT(maxj, 0.005);
}

TEST(Augment, NormalsStayNormalToTheTransformedSurface) {
  // points on the plane n . p = 0 with n = normalize(1, 2, 3); after the transform, differences of points
  // must stay orthogonal to the transformed normal.
  const double nn[3] = {1 / std::sqrt(14.0), 2 / std::sqrt(14.0), 3 / std::sqrt(14.0)};
  const double u[3] = {2 / std::sqrt(5.0), -1 / std::sqrt(5.0), 0};
  const double w[3] = {nn[1] * u[2] - nn[2] * u[1], nn[2] * u[0] - nn[0] * u[2], nn[0] * u[1] - nn[1] * u[0]};
  std::vector<float> pts, nrm;
  for (int i = 0; i < 20; ++i) {
    const double a = (i % 5) - 2.0, b = (i / 5) - 1.5;
    for (int k = 0; k < 3; ++k) pts.push_back(float(a * u[k] + b * w[k]));
    for (int k = 0; k < 3; ++k) nrm.push_back(float(nn[k]));
  }
  Tensor p = Tensor::from_vector(pts, Shape{20, 3}), n = Tensor::from_vector(nrm, Shape{20, 3});
  AugmentOptions o;
  o.scale_lo = 0.7;
  o.scale_hi = 1.3;
  o.jitter_sigma = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    PointTransform t = draw_transform(p, o, seed);
    Tensor q = augment_coords(p, t, o, seed), m = augment_normals(n, t);
    const float* qp = q.data<float>();
    const float* mp = m.data<float>();
    EXPECT_NEAR(mp[0] * mp[0] + mp[1] * mp[1] + mp[2] * mp[2], 1.0, 1e-5);
    for (int i = 1; i < 20; ++i) {
      double d = 0;
      for (int k = 0; k < 3; ++k) d += (qp[3 * i + k] - qp[k]) * mp[k];
      ASSERT_NEAR(d, 0.0, 1e-4) << "seed " << seed << " point " << i;
    }
  }
}

TEST(Augment, ColourFeaturesJitterAndDrop) {
  std::vector<uint8_t> c = {0, 255, 128, 10, 20, 30};
  Tensor col = Tensor::from_vector(c, Shape{2, 3});
  Tensor p = random_points(2, 3);
  AugmentOptions o;
  PointTransform t = draw_transform(p, o, 1);
  t.color_dropped = false;
  std::vector<float> f = color_features(col, t, o, 1).to_vector<float>();
  for (size_t i = 0; i < c.size(); ++i) EXPECT_FLOAT_EQ(f[i], float(c[i] / 127.5 - 1.0));
  o.color_jitter_sigma = 10;
  std::vector<float> g = color_features(col, t, o, 1).to_vector<float>();
  int changed = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_GE(g[i], -1.0f);
    EXPECT_LE(g[i], 1.0f);
    changed += g[i] != f[i];
  }
  EXPECT_GT(changed, 3);
  t.color_dropped = true;
  for (float v : color_features(col, t, o, 1).to_vector<float>()) EXPECT_EQ(v, 0.0f);
  // colour drop probability 1 always drops, 0 never
  o.color_drop = 1.0;
  EXPECT_TRUE(draw_transform(p, o, 9).color_dropped);
  o.color_drop = 0.0;
  EXPECT_FALSE(draw_transform(p, o, 9).color_dropped);
}

TEST(Augment, SeededAndDisabled) {
  Tensor p = random_points(50, 4);
  AugmentOptions o;
  Tensor a = augment_coords(p, draw_transform(p, o, 11), o, 11);
  Tensor b = augment_coords(p, draw_transform(p, o, 11), o, 11);
  Tensor c = augment_coords(p, draw_transform(p, o, 12), o, 12);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  o.enabled = false;
  PointTransform t = draw_transform(p, o, 11);
  std::vector<float> q = augment_coords(p, t, o, 11).to_vector<float>();
  std::vector<float> src = p.to_vector<float>();
  for (size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(q[i], src[i] - t.center[i % 3], 1e-6);
  EXPECT_THROW(draw_transform(Tensor::zeros(Shape{3, 2}), o, 0), Error);
}

}  // namespace
}  // namespace leseg::io::loader
