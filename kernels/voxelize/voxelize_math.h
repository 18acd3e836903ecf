// SPDX-License-Identifier: Apache-2.0
// Per-point voxel math shared by CPU and CUDA: voxel index floor(p * inv_size), trilinear corners/weights.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/common/lowp_acc.h"
#include "kernels/coord_hash/coord_hash_math.h"

namespace leseg::kernels::vox {

// floor(p * inv) as int64 (saturated far outside the coordinate range so the range check sees it).
LESEG_HD int64_t voxel_index(double p, double inv) {
  const double v = floor(p * inv);
  if (!(v > -4e9)) return int64_t(-4000000000LL);  // also NaN
  if (v > 4e9) return int64_t(4000000000LL);
  return int64_t(v);
}

// Trilinear corner c in [0, 8): offsets (c & 1, (c >> 1) & 1, c >> 2); base = floor(u), frac = u - base.
// Returns the weight prod(1 - |u - corner|) and writes the corner coordinate (times `stride`).
LESEG_HD double trilinear_corner(const double u[3], int c, int32_t stride, int64_t corner[3]) {
  double w = 1.0;
  for (int d = 0; d < 3; ++d) {
    const double b = floor(u[d]);
    const int o = (c >> d) & 1;
    const double f = u[d] - b;
    w *= o ? f : 1.0 - f;
    corner[d] = (int64_t(b) + o) * stride;
  }
  return w;
}

// One point's 8 trilinear corners at `stride`: corner voxel ids (-1 when absent or out of the coordinate
// range) and weights renormalised over the corners present (all 0 when none is). p = 3 coordinates in metres.
template <class T>
LESEG_HD void trilinear_point(const coord::TableView& t, const T* p, int32_t b, double inv_size, int32_t stride,
                              int32_t* idx8, T* w8) {
  const double u[3] = {double(p[0]) * inv_size / stride, double(p[1]) * inv_size / stride,
                       double(p[2]) * inv_size / stride};
  double ws[8], sum = 0;
  for (int c = 0; c < 8; ++c) {
    int64_t cc[3];
    const double wc = trilinear_corner(u, c, stride, cc);
    const bool ok = cc[0] >= coord::kCoordMin && cc[0] <= coord::kCoordMax && cc[1] >= coord::kCoordMin &&
                    cc[1] <= coord::kCoordMax && cc[2] >= coord::kCoordMin && cc[2] <= coord::kCoordMax;
    const int32_t id = ok ? coord::table_find(t, b, int32_t(cc[0]), int32_t(cc[1]), int32_t(cc[2])) : -1;
    idx8[c] = id;
    ws[c] = id >= 0 ? wc : 0.0;
    sum += ws[c];
  }
  for (int c = 0; c < 8; ++c) w8[c] = sum > 0 ? T(ws[c] / sum) : T(0);
}

// Half features (f16/bf16) with f32 weights: one output element of point_gather, accumulated in f32 with an explicit
// fused multiply-add per corner in corner order (fmaf: the same bits on CPU and CUDA), rounded once at the store.
template <class T>
LESEG_HD T gather_lowp_one(const T* x, const int32_t* idx, const float* w, int64_t i, int corners, int64_t C,
                           int64_t ch) {
  float acc = 0.f;
  for (int c = 0; c < corners; ++c) {
    const int32_t j = idx[i * corners + c];
    if (j >= 0) acc = fmaf(w ? w[i * corners + c] : 1.f, load_acc(x[int64_t(j) * C + ch]), acc);
  }
  return store_acc<T>(acc);
}

}  // namespace leseg::kernels::vox
