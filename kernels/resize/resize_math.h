// SPDX-License-Identifier: Apache-2.0
// Bilinear source coordinates (PyTorch's area_pixel_compute_source_index, size given, no scale factor),
// shared by the CPU twin and CUDA:
//   align_corners = true : src = o · (in − 1) / (out − 1)          (0 when out == 1)
//   align_corners = false: src = max((o + 0.5) · in / out − 0.5, 0)
//   i0 = ⌊src⌋, i1 = min(i0 + 1, in − 1), λ = src − i0: value = (1 − λ)·v[i0] + λ·v[i1]  (per axis)
// Computed in double on both devices so both pick the same taps.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

struct ResizeShape {
  int64_t planes = 0, h = 0, w = 0, h_out = 0, w_out = 0;
  bool align_corners = false;
};

struct Taps {
  int64_t i0, i1;
  double l0, l1;  // weights of i0 and i1
};

LESEG_HD Taps bilinear_taps(int64_t o, int64_t in, int64_t out, bool align_corners) {
  double src;
  if (align_corners) {
    src = out > 1 ? double(o) * double(in - 1) / double(out - 1) : 0.0;
  } else {
    src = (double(o) + 0.5) * double(in) / double(out) - 0.5;
    if (src < 0) src = 0;
  }
  int64_t i0 = int64_t(src);
  if (i0 > in - 1) i0 = in - 1;
  const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
  const double l = src - double(i0);
  return Taps{i0, i1, 1.0 - l, l};
}

// Weight of input index i in output index o along one axis (both taps may hit i at the border).
LESEG_HD double tap_weight(const Taps& t, int64_t i) {
  return (t.i0 == i ? t.l0 : 0.0) + (t.i1 == i ? t.l1 : 0.0);
}

// Output indices o whose taps can touch input index i: a window around the inverse map, checked exactly by
// the caller through tap_weight (zero weights contribute nothing).
LESEG_HD void outputs_touching(int64_t i, int64_t in, int64_t out, bool align_corners, int64_t& lo, int64_t& hi) {
  double a, b;  // src(o) ∈ (i − 1, i + 1)  <=>  o ∈ (a, b)
  if (align_corners) {
    const double r = out > 1 ? double(in - 1) / double(out - 1) : 0.0;
    if (r == 0) { lo = 0; hi = out - 1; return; }
    a = (double(i) - 1) / r, b = (double(i) + 1) / r;
  } else {
    const double r = double(in) / double(out);
    a = (double(i) - 1 + 0.5) / r - 0.5, b = (double(i) + 1 + 0.5) / r - 0.5;
  }
  lo = int64_t(a) - 2;
  hi = int64_t(b) + 2;
  if (lo < 0) lo = 0;
  if (hi > out - 1) hi = out - 1;
}

template <class T>
LESEG_HD T bilinear_value(const T* x, const ResizeShape& s, int64_t oy, int64_t ox) {
  const Taps ty = bilinear_taps(oy, s.h, s.h_out, s.align_corners);
  const Taps tx = bilinear_taps(ox, s.w, s.w_out, s.align_corners);
  const double v = ty.l0 * (tx.l0 * double(x[ty.i0 * s.w + tx.i0]) + tx.l1 * double(x[ty.i0 * s.w + tx.i1])) +
                   ty.l1 * (tx.l0 * double(x[ty.i1 * s.w + tx.i0]) + tx.l1 * double(x[ty.i1 * s.w + tx.i1]));
  return T(v);
}

// Backward pass 1 (columns): t[oy, ix] = Σ_ox dy[oy, ox] · w_x(ox, ix)  — t is (H_out, W) per plane.
template <class T>
LESEG_HD T bilinear_backward_cols(const T* dy, const ResizeShape& s, int64_t oy, int64_t ix) {
  int64_t lo, hi;
  outputs_touching(ix, s.w, s.w_out, s.align_corners, lo, hi);
  double acc = 0;
  for (int64_t ox = lo; ox <= hi; ++ox) {
    const double wgt = tap_weight(bilinear_taps(ox, s.w, s.w_out, s.align_corners), ix);
    if (wgt != 0) acc += wgt * double(dy[oy * s.w_out + ox]);
  }
  return T(acc);
}
// Backward pass 2 (rows): dx[iy, ix] = Σ_oy t[oy, ix] · w_y(oy, iy).
template <class T>
LESEG_HD T bilinear_backward_rows(const T* t, const ResizeShape& s, int64_t iy, int64_t ix) {
  int64_t lo, hi;
  outputs_touching(iy, s.h, s.h_out, s.align_corners, lo, hi);
  double acc = 0;
  for (int64_t oy = lo; oy <= hi; ++oy) {
    const double wgt = tap_weight(bilinear_taps(oy, s.h, s.h_out, s.align_corners), iy);
    if (wgt != 0) acc += wgt * double(t[oy * s.w + ix]);
  }
  return T(acc);
}

}  // namespace leseg::kernels
