// SPDX-License-Identifier: Apache-2.0
// Index arithmetic of dense 2-D convolution, shared by the CPU twin and the CUDA im2col path.
//   out size:  H_out = (H + 2·pad − dil·(KH − 1) − 1) / stride + 1   (floor; PyTorch's formula)
//   im2col:    col[(c·KH + i)·KW + j, oy·W_out + ox] = x[c, oy·stride − pad + i·dil, ox·stride − pad + j·dil]
//              (0 outside the image)
//   col2im (gather form, race-free): dx[c, y, x] = Σ_{i,j} dcol[(c·KH + i)·KW + j, oy·W_out + ox] over the
//              (i, j) for which y = oy·stride − pad + i·dil and x = ox·stride − pad + j·dil hit an output.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

struct Conv2dShape {
  int64_t n = 0, c_in = 0, h = 0, w = 0;  // input (N, C_in, H, W)
  int64_t c_out = 0, kh = 1, kw = 1;      // weight (C_out, C_in, KH, KW)
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t h_out = 0, w_out = 0;           // output (N, C_out, H_out, W_out)
  LESEG_HD int64_t k() const { return c_in * kh * kw; }  // GEMM inner size (rows of col)
  LESEG_HD int64_t p() const { return h_out * w_out; }   // output pixels per image (columns of col)
  // A 1×1, stride-1, unpadded conv needs no im2col: col is the image itself.
  LESEG_HD bool pointwise() const {
    return kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

LESEG_HD int64_t conv2d_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  const int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// col element (row r, column q) of one image x (C_in, H, W).
template <class T>
LESEG_HD T im2col_value(const T* x, const Conv2dShape& s, int64_t r, int64_t q) {
  const int64_t j = r % s.kw, i = (r / s.kw) % s.kh, c = r / (s.kw * s.kh);
  const int64_t oy = q / s.w_out, ox = q % s.w_out;
  const int64_t y = oy * s.stride_h - s.pad_h + i * s.dil_h, xx = ox * s.stride_w - s.pad_w + j * s.dil_w;
  if (y < 0 || y >= s.h || xx < 0 || xx >= s.w) return T(0);
  return x[(c * s.h + y) * s.w + xx];
}

// dx[c, y, x] of one image from its dcol (K, P), summed in (i, j) order (the same on CPU and CUDA).
template <class T, class Acc>
LESEG_HD T col2im_value(const T* dcol, const Conv2dShape& s, int64_t c, int64_t y, int64_t x) {
  Acc acc = Acc(0);
  const int64_t P = s.p();
  for (int64_t i = 0; i < s.kh; ++i) {
    const int64_t ty = y + s.pad_h - i * s.dil_h;
    if (ty < 0 || ty % s.stride_h != 0) continue;
    const int64_t oy = ty / s.stride_h;
    if (oy >= s.h_out) continue;
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t tx = x + s.pad_w - j * s.dil_w;
      if (tx < 0 || tx % s.stride_w != 0) continue;
      const int64_t ox = tx / s.stride_w;
      if (ox >= s.w_out) continue;
      acc += Acc(dcol[((c * s.kh + i) * s.kw + j) * P + oy * s.w_out + ox]);
    }
  }
  return T(acc);
}

}  // namespace leseg::kernels
