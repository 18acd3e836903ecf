// SPDX-License-Identifier: Apache-2.0
// Window arithmetic of 2-D pooling (PyTorch semantics, floor mode, dilation 1), shared by CPU and CUDA.
//   fixed windows:    rows [oy·sh − ph, oy·sh − ph + kh) ∩ [0, H)  (padding never wins a max; average divisor
//                     kh·kw when count_include_pad (the window clipped to the padded image, PyTorch), else the
//                     number of real pixels)
//   adaptive windows: rows [⌊oy·H/OH⌋, ⌈(oy+1)·H/OH⌉)
// Backward passes are gathers over the windows that contain an input pixel (race-free, no atomics, the same
// summation order on both devices).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

struct Pool2dShape {
  int64_t planes = 0, h = 0, w = 0;  // input (N·C planes, H, W)
  int64_t h_out = 0, w_out = 0;
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;  // fixed windows only
  bool count_include_pad = true;                                           // avg only
};

LESEG_HD int64_t pool2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  const int64_t span = in + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}
LESEG_HD int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
LESEG_HD int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

LESEG_HD int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
LESEG_HD int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Output rows whose fixed window contains input row y: [lo, hi] (empty when lo > hi).
LESEG_HD void windows_containing(int64_t y, int64_t k, int64_t stride, int64_t pad, int64_t out, int64_t& lo,
                                 int64_t& hi) {
  // oy·stride − pad <= y  and  y < oy·stride − pad + k
  const int64_t t = y + pad - k + 1;  // oy·stride >= t
  lo = t <= 0 ? 0 : (t + stride - 1) / stride;
  hi = imin((y + pad) / stride, out - 1);
}

// Max over one window of plane x; returns the value and the flat index (y·W + x) of the first maximum
// (NaN propagates and wins, as in PyTorch).
template <class T>
LESEG_HD T max_window(const T* x, const Pool2dShape& s, int64_t oy, int64_t ox, int64_t& arg) {
  const int64_t y0 = oy * s.stride_h - s.pad_h, x0 = ox * s.stride_w - s.pad_w;
  const int64_t y1 = imin(y0 + s.kh, s.h), x1 = imin(x0 + s.kw, s.w);
  T best = T(0);
  arg = -1;
  for (int64_t y = imax(y0, 0); y < y1; ++y)
    for (int64_t xx = imax(x0, 0); xx < x1; ++xx) {
      const T v = x[y * s.w + xx];
      if (arg < 0 || v > best || v != v) {
        best = v;
        arg = y * s.w + xx;
        if (v != v) return best;
      }
    }
  return best;
}

LESEG_HD int64_t avg_divisor(const Pool2dShape& s, int64_t oy, int64_t ox) {
  const int64_t y0 = oy * s.stride_h - s.pad_h, x0 = ox * s.stride_w - s.pad_w;
  if (s.count_include_pad) {
    const int64_t y1 = imin(y0 + s.kh, s.h + s.pad_h), x1 = imin(x0 + s.kw, s.w + s.pad_w);
    return (y1 - y0) * (x1 - x0);
  }
  const int64_t y1 = imin(y0 + s.kh, s.h), x1 = imin(x0 + s.kw, s.w);
  return (y1 - imax(y0, 0)) * (x1 - imax(x0, 0));
}

template <class T, class Acc>
LESEG_HD T avg_window(const T* x, const Pool2dShape& s, int64_t oy, int64_t ox) {
  const int64_t y0 = oy * s.stride_h - s.pad_h, x0 = ox * s.stride_w - s.pad_w;
  const int64_t y1 = imin(y0 + s.kh, s.h), x1 = imin(x0 + s.kw, s.w);
  Acc acc = Acc(0);
  for (int64_t y = imax(y0, 0); y < y1; ++y)
    for (int64_t xx = imax(x0, 0); xx < x1; ++xx) acc += Acc(x[y * s.w + xx]);
  const int64_t d = avg_divisor(s, oy, ox);
  return d > 0 ? T(acc / Acc(d)) : T(0);
}

// dx at input pixel (y, x) of one plane for max pooling: Σ dy over windows whose argmax is this pixel.
template <class T, class Acc>
LESEG_HD T max_backward_value(const T* dy, const int64_t* arg, const Pool2dShape& s, int64_t y, int64_t x) {
  int64_t ylo, yhi, xlo, xhi;
  windows_containing(y, s.kh, s.stride_h, s.pad_h, s.h_out, ylo, yhi);
  windows_containing(x, s.kw, s.stride_w, s.pad_w, s.w_out, xlo, xhi);
  const int64_t me = y * s.w + x;
  Acc acc = Acc(0);
  for (int64_t oy = ylo; oy <= yhi; ++oy)
    for (int64_t ox = xlo; ox <= xhi; ++ox)
      if (arg[oy * s.w_out + ox] == me) acc += Acc(dy[oy * s.w_out + ox]);
  return T(acc);
}

template <class T, class Acc>
LESEG_HD T avg_backward_value(const T* dy, const Pool2dShape& s, int64_t y, int64_t x) {
  int64_t ylo, yhi, xlo, xhi;
  windows_containing(y, s.kh, s.stride_h, s.pad_h, s.h_out, ylo, yhi);
  windows_containing(x, s.kw, s.stride_w, s.pad_w, s.w_out, xlo, xhi);
  Acc acc = Acc(0);
  for (int64_t oy = ylo; oy <= yhi; ++oy)
    for (int64_t ox = xlo; ox <= xhi; ++ox) acc += Acc(dy[oy * s.w_out + ox]) / Acc(avg_divisor(s, oy, ox));
  return T(acc);
}

template <class T, class Acc>
LESEG_HD T adaptive_avg_value(const T* x, const Pool2dShape& s, int64_t oy, int64_t ox) {
  const int64_t y0 = adaptive_start(oy, s.h, s.h_out), y1 = adaptive_end(oy, s.h, s.h_out);
  const int64_t x0 = adaptive_start(ox, s.w, s.w_out), x1 = adaptive_end(ox, s.w, s.w_out);
  Acc acc = Acc(0);
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t xx = x0; xx < x1; ++xx) acc += Acc(x[y * s.w + xx]);
  return T(acc / Acc((y1 - y0) * (x1 - x0)));
}

// Adaptive windows containing input row y: a few rows around y·OUT/IN, checked exactly.
LESEG_HD void adaptive_containing(int64_t y, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = imax((y * out) / in - 1, 0);
  while (lo < out && adaptive_end(lo, in, out) <= y) ++lo;
  hi = lo;
  while (hi + 1 < out && adaptive_start(hi + 1, in, out) <= y) ++hi;
}

template <class T, class Acc>
LESEG_HD T adaptive_avg_backward_value(const T* dy, const Pool2dShape& s, int64_t y, int64_t x) {
  int64_t ylo, yhi, xlo, xhi;
  adaptive_containing(y, s.h, s.h_out, ylo, yhi);
  adaptive_containing(x, s.w, s.w_out, xlo, xhi);
  Acc acc = Acc(0);
  for (int64_t oy = ylo; oy <= yhi; ++oy) {
    const int64_t ny = adaptive_end(oy, s.h, s.h_out) - adaptive_start(oy, s.h, s.h_out);
    for (int64_t ox = xlo; ox <= xhi; ++ox) {
      const int64_t nx = adaptive_end(ox, s.w, s.w_out) - adaptive_start(ox, s.w, s.w_out);
      acc += Acc(dy[oy * s.w_out + ox]) / Acc(ny * nx);
    }
  }
  return T(acc);
}

}  // namespace leseg::kernels
