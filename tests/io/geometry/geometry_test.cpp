// SPDX-License-Identifier: Apache-2.0
// Engine-level neighbour wrapper, PCA normals on a plane and a sphere, normal-based over-segmentation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "io/geometry/neighbors.h"
#include "io/geometry/normals.h"
#include "io/geometry/oversegment.h"

using namespace leseg;
using namespace leseg::io;

namespace {
Tensor grid_plane(int n, float z, bool vertical = false, float offset = 0.f) {
  std::vector<float> p;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const float a = 0.05f * i + offset, b = 0.05f * j;
      if (vertical) p.insert(p.end(), {z, a, b});
      else p.insert(p.end(), {a, b, z});
    }
  return Tensor::from_vector(p, Shape{int64_t(p.size() / 3), 3});
}
}  // namespace

TEST(GeometryNeighbors, WrapperKnnAndRadiusAgreeWithBruteForce) {
  Tensor ref = grid_plane(12, 0.f);
  KnnResult r = knn(ref, ref, 5);
  std::vector<int32_t> idx = r.idx.to_vector<int32_t>();
  std::vector<float> d2 = r.d2.to_vector<float>();
  for (int64_t q = 0; q < ref.size(0); ++q) {
    EXPECT_EQ(idx[size_t(q * 5)], q);  // itself first (distance 0)
    EXPECT_EQ(d2[size_t(q * 5)], 0.f);
    for (int j = 1; j < 5; ++j) EXPECT_LE(d2[size_t(q * 5 + j - 1)], d2[size_t(q * 5 + j)]);
  }
  RadiusResult rr = radius_search(ref, ref, 0.051f);
  std::vector<int64_t> off = rr.offsets.to_vector<int64_t>();
  EXPECT_EQ(off[1] - off[0], 3);        // corner: itself + 2 lattice neighbours
  EXPECT_EQ(off[14] - off[13], 5);      // interior point
  EXPECT_THROW(knn(ref, ref, 0), Error);
  EXPECT_THROW(knn(Tensor::zeros(Shape{4, 2}), ref, 1), Error);
  EXPECT_THROW(radius_search(ref, ref, -1.f), Error);
}

TEST(Normals, PlaneAndSphere) {
  Tensor plane = grid_plane(15, 1.f);
  std::vector<float> n = estimate_normals(plane).to_vector<float>();
  for (size_t i = 0; i < n.size(); i += 3) {
    EXPECT_NEAR(n[i], 0.f, 1e-5);
    EXPECT_NEAR(n[i + 2], 1.f, 1e-5);  // +z orientation
  }
  NormalOptions down;
  down.viewpoint = std::array<float, 3>{0.3f, 0.3f, -5.f};
  n = estimate_normals(plane, down).to_vector<float>();
  EXPECT_NEAR(n[2], -1.f, 1e-5);
  std::mt19937_64 g(3);
  std::normal_distribution<float> N(0.f, 1.f);
  std::vector<float> s;
  for (int i = 0; i < 2000; ++i) {
    float x = N(g), y = N(g), z = N(g), r = std::sqrt(x * x + y * y + z * z);
    s.insert(s.end(), {x / r, y / r, z / r});
  }
  Tensor sphere = Tensor::from_vector(s, Shape{2000, 3});
  NormalOptions inside;
  inside.viewpoint = std::array<float, 3>{0.f, 0.f, 0.f};
  n = estimate_normals(sphere, inside).to_vector<float>();
  double worst = 1;
  for (size_t i = 0; i < n.size(); i += 3) worst = std::min(worst, -double(n[i] * s[i] + n[i + 1] * s[i + 1] + n[i + 2] * s[i + 2]));
  EXPECT_GT(worst, 0.97);  // oriented towards the centre, close to -p
}

TEST(Oversegment, PlaneStaysOneAndFoldSplits) {
  Tensor plane = grid_plane(20, 0.f);
  Tensor seg = oversegment(plane, estimate_normals(plane));
  std::set<int32_t> ids;
  for (int32_t s : seg.to_vector<int32_t>()) ids.insert(s);
  EXPECT_EQ(ids.size(), 1u);
  // Floor z = 0 on x in [0.5, 1.45] meeting a wall x = 0.45 (points up to 0.95 high): a fold.
  Tensor floor = grid_plane(20, 0.f, false, 0.5f), wall = grid_plane(20, 0.45f, true);
  std::vector<float> all = floor.to_vector<float>(), w = wall.to_vector<float>();
  all.insert(all.end(), w.begin(), w.end());
  Tensor both = Tensor::from_vector(all, Shape{800, 3});
  std::vector<float> nrm;
  for (int i = 0; i < 400; ++i) nrm.insert(nrm.end(), {0.f, 0.f, 1.f});
  for (int i = 0; i < 400; ++i) nrm.insert(nrm.end(), {1.f, 0.f, 0.f});
  std::vector<int32_t> s = oversegment(both, Tensor::from_vector(nrm, Shape{800, 3})).to_vector<int32_t>();
  std::set<int32_t> fa(s.begin(), s.begin() + 400), wa(s.begin() + 400, s.end());
  EXPECT_GE(fa.size() + wa.size(), 2u);
  for (int32_t id : fa) EXPECT_EQ(wa.count(id), 0u) << "segment " << id << " crosses the fold";
  // Deterministic.
  EXPECT_EQ(s, oversegment(both, Tensor::from_vector(nrm, Shape{800, 3})).to_vector<int32_t>());
  EXPECT_THROW(oversegment(both, Tensor::zeros(Shape{3, 3})), Error);
}
