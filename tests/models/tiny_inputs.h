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

}  // namespace leseg::testing
