// SPDX-License-Identifier: Apache-2.0
// Tiny deterministic inputs for the model tests: two scenes of scattered unique voxels in a 48^3 box (so
// every stride down to 16 keeps several voxels per scene and no BatchNorm sees a single row).
#pragma once
#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

#include "engine/autograd.h"
#include "engine/sparse/sparse_tensor.h"
#include "engine/tensor.h"

namespace leseg::testing {

// (N, 4) i32 unique rows (b, x, y, z), `per_batch` per scene, from a small LCG.
inline Tensor tiny_coords(int64_t per_batch, int batches = 2, int extent = 48, uint64_t seed = 1) {
  std::vector<int32_t> c;
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&]() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return int32_t((s >> 33) % uint64_t(extent));
  };
  for (int b = 0; b < batches; ++b) {
    std::set<std::tuple<int, int, int>> seen;
    while (int64_t(seen.size()) < per_batch) {
      // clustered: half the points next to a previous one, so 3x3x3 convs find neighbours
      int x = next(), y = next(), z = next();
      if (!seen.empty() && (next() % 2 == 0)) {
        auto it = seen.begin();
        std::advance(it, next() % int32_t(seen.size()));
        x = std::get<0>(*it) + (next() % 3) - 1;
        y = std::get<1>(*it) + (next() % 3) - 1;
        z = std::get<2>(*it) + (next() % 3) - 1;
        if (std::min({x, y, z}) < 0 || std::max({x, y, z}) >= extent) continue;
      }
      if (!seen.insert({x, y, z}).second) continue;
      c.insert(c.end(), {b, x, y, z});
    }
  }
  return Tensor::from_vector(c, Shape{int64_t(c.size() / 4), 4});
}

// Max |x| over all elements and whether every element is finite.
inline bool all_finite(const Tensor& t) {
  for (double v : t.to(DType::f64).to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}
inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to(DType::f64).to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

struct Points {
  Tensor points, batch, feats;
};

// Points for SPVCNN: 1-3 points inside each voxel of tiny_coords, voxel size vs, features (N, C) random.
inline Points tiny_points(int64_t per_batch, int64_t channels, double vs, DType dt = DType::f32) {
  const auto c = tiny_coords(per_batch).to_vector<int32_t>();
  std::vector<double> p;
  std::vector<int32_t> b;
  uint64_t s = 99;
  auto u = [&]() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return 0.05 + 0.9 * double(s >> 11) / double(1ull << 53);
  };
  for (size_t i = 0; i < c.size(); i += 4) {
    const int k = 1 + int(i / 4) % 3;
    for (int j = 0; j < k; ++j) {
      b.push_back(c[i]);
      for (int a = 0; a < 3; ++a) p.push_back((c[i + 1 + a] + u()) * vs);
    }
  }
  const int64_t n = int64_t(b.size());
  Points out;
  out.points = Tensor::from_vector(p, Shape{n, 3}).to(dt);
  out.batch = Tensor::from_vector(b, Shape{n});
  out.feats = Tensor::randn(Shape{n, channels}, 21, 0, dt);
  return out;
}

}  // namespace leseg::testing
