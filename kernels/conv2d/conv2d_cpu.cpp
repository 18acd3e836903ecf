// SPDX-License-Identifier: Apache-2.0
// CPU twin of conv2d (the specification): im2col + Eigen GEMM per image, see conv2d.h.
#include <Eigen/Core>
#include <algorithm>

#include "kernels/common/all_types.h"
#include "kernels/common/check.h"
#include "kernels/conv2d/conv2d.h"

namespace leseg::kernels {
namespace {
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using CMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using MMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

constexpr int64_t kRowBlock = 64;  // output rows per tile
constexpr int64_t kKBlock = 64;    // columns of dW per tile
constexpr int64_t kColBlock = 128;  // fixed (results must not depend on the thread count)

void check_shape(const Conv2dShape& s) {
  LESEG_KCHECK(s.n >= 0 && s.c_in >= 0 && s.h >= 0 && s.w >= 0 && s.c_out >= 0, "conv2d: negative size");
  LESEG_KCHECK(s.kh >= 1 && s.kw >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.dil_h >= 1 && s.dil_w >= 1 &&
                   s.pad_h >= 0 && s.pad_w >= 0,
               "conv2d: kernel ", s.kh, "x", s.kw, ", stride ", s.stride_h, "x", s.stride_w, ", dilation ", s.dil_h,
               "x", s.dil_w, ", padding ", s.pad_h, "x", s.pad_w);
  LESEG_KCHECK(s.h_out == conv2d_out_size(s.h, s.kh, s.stride_h, s.pad_h, s.dil_h) &&
                   s.w_out == conv2d_out_size(s.w, s.kw, s.stride_w, s.pad_w, s.dil_w),
               "conv2d: output size ", s.h_out, "x", s.w_out, " inconsistent with the input");
}

// col[:, q0:q0+nq] of image x (C_in, H, W): im2col_value (conv2d_math.h) with the output position stepped
// incrementally instead of divided out per element (the same copies).
template <class T>
void im2col_block(const T* x, const Conv2dShape& s, T* col, int64_t q0, int64_t nq) {
  const int64_t K = s.k(), P = s.p();
  for (int64_t r = 0; r < K; ++r) {
    const int64_t j = r % s.kw, i = (r / s.kw) % s.kh, c = r / (s.kw * s.kh);
    const T* xc = x + c * s.h * s.w;
    T* row = col + r * P;
    int64_t oy = q0 / s.w_out, ox = q0 % s.w_out;
    for (int64_t q = q0; q < q0 + nq; ++q) {
      const int64_t y = oy * s.stride_h - s.pad_h + i * s.dil_h, xx = ox * s.stride_w - s.pad_w + j * s.dil_w;
      row[q] = (y < 0 || y >= s.h || xx < 0 || xx >= s.w) ? T(0) : xc[y * s.w + xx];
      if (++ox == s.w_out) ox = 0, ++oy;
    }
  }
}

template <class T>
void im2col_parallel(const T* x, const Conv2dShape& s, T* col) {
  const int64_t P = s.p(), blocks = (P + kColBlock - 1) / kColBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && s.k() * P > (1 << 14))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t q0 = blk * kColBlock;
    im2col_block(x, s, col, q0, std::min(kColBlock, P - q0));
  }
}

// f(r0, nr, c0, nc) over the fixed (rb × cb) tiles of a (rows × cols) output, in parallel. The tiling depends
// on the shape only, so every output element is produced by the same Eigen call whatever the thread count;
// Eigen runs single-threaded inside (it never opens its own spin-waiting parallel GEMM in our region).
template <class F>
void for_tiles(int64_t rows, int64_t cols, int64_t rb, int64_t cb, const F& f) {
  const int64_t nr = (rows + rb - 1) / rb, nc = (cols + cb - 1) / cb;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < nr * nc; ++t) {
    const int64_t r0 = (t / nc) * rb, c0 = (t % nc) * cb;
    f(r0, std::min(rb, rows - r0), c0, std::min(cb, cols - c0));
  }
}
}  // namespace

template <class T>
size_t conv2d_cpu_workspace_bytes(const Conv2dShape& s) {
  return s.pointwise() ? 0 : size_t(s.k()) * size_t(s.p()) * sizeof(T);
}

template <class T>
void conv2d_forward_cpu(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s, void* workspace) {
  check_shape(s);
  const int64_t K = s.k(), P = s.p(), HW = s.h * s.w, Co = s.c_out;
  if (s.n == 0 || P == 0 || Co == 0) return;
  LESEG_KCHECK(s.pointwise() || K == 0 || workspace != nullptr, "conv2d_forward_cpu: workspace missing");
  T* col = static_cast<T*>(workspace);
  for (int64_t n = 0; n < s.n; ++n) {
    const T* xn = x + n * s.c_in * HW;
    T* yn = y + n * Co * P;
    if (!s.pointwise()) im2col_parallel(xn, s, col);
    const T* src = s.pointwise() ? xn : col;
    // y_n (Co, P) = W (Co, K) · col (K, P), tile by tile
    for_tiles(Co, P, kRowBlock, kColBlock, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
      MMap<T> Y(yn + r0 * P + c0, nr, nc, Eigen::OuterStride<>(P));
      if (K == 0) Y.setZero();
      else Y.noalias() = CMap<T>(w + r0 * K, nr, K, Eigen::OuterStride<>(K)) * CMap<T>(src + c0, K, nc, Eigen::OuterStride<>(P));
      if (b)
        for (int64_t o = 0; o < nr; ++o) Y.row(o).array() += b[r0 + o];
    });
  }
}

template <class T>
void conv2d_backward_cpu(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, const Conv2dShape& s,
                         void* workspace) {
  check_shape(s);
  const int64_t K = s.k(), P = s.p(), HW = s.h * s.w, Co = s.c_out;
  if (db) {
#pragma omp parallel for schedule(static) if (Co * s.n * P > (1 << 16))
    for (int64_t o = 0; o < Co; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < s.n; ++n) {
        const T* g = dy + (n * Co + o) * P;
        for (int64_t q = 0; q < P; ++q) acc += double(g[q]);
      }
      db[o] = T(acc);
    }
  }
  if (dw) std::fill(dw, dw + Co * K, T(0));
  if (dx) std::fill(dx, dx + s.n * s.c_in * HW, T(0));
  if (s.n == 0 || P == 0 || Co == 0 || K == 0) return;
  LESEG_KCHECK(s.pointwise() || workspace != nullptr, "conv2d_backward_cpu: workspace missing");
  T* col = static_cast<T*>(workspace);
  for (int64_t n = 0; n < s.n; ++n) {
    const T* xn = x + n * s.c_in * HW;
    const T* dyn = dy + n * Co * P;
    if (dw) {
      // dW (Co, K) += dy_n (Co, P) · col_nᵀ (P, K), images in order
      if (!s.pointwise()) im2col_parallel(xn, s, col);
      const T* src = s.pointwise() ? xn : col;
      for_tiles(Co, K, kRowBlock, kKBlock, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
        MMap<T>(dw + r0 * K + c0, nr, nc, Eigen::OuterStride<>(K)).noalias() +=
            CMap<T>(dyn + r0 * P, nr, P, Eigen::OuterStride<>(P)) *
            CMap<T>(src + c0 * P, nc, P, Eigen::OuterStride<>(P)).transpose();
      });
    }
    if (dx) {
      T* dxn = dx + n * s.c_in * HW;
      T* dcol = s.pointwise() ? dxn : col;  // pointwise: dx_n (C_in, HW) = Wᵀ · dy_n directly
      // dcol (K, P) = Wᵀ (K, Co) · dy_n (Co, P)
      for_tiles(K, P, kRowBlock, kColBlock, [&](int64_t r0, int64_t nr, int64_t c0, int64_t nc) {
        MMap<T>(dcol + r0 * P + c0, nr, nc, Eigen::OuterStride<>(P)).noalias() =
            CMap<T>(w + r0, Co, nr, Eigen::OuterStride<>(K)).transpose() *
            CMap<T>(dyn + c0, Co, nc, Eigen::OuterStride<>(P));
      });
      if (!s.pointwise()) {
        const int64_t rows = s.c_in * s.h;
#pragma omp parallel for schedule(static) if (rows * s.w > (1 << 14))
        for (int64_t cy = 0; cy < rows; ++cy) {
          const int64_t c = cy / s.h, yy = cy % s.h;
          for (int64_t xx = 0; xx < s.w; ++xx) dxn[cy * s.w + xx] = col2im_value<T, double>(dcol, s, c, yy, xx);
        }
      }
    }
  }
}

#define X(T)                                                                                                   \
  template size_t conv2d_cpu_workspace_bytes<T>(const Conv2dShape&);                                           \
  template void conv2d_forward_cpu<T>(const T*, const T*, const T*, T*, const Conv2dShape&, void*);            \
  template void conv2d_backward_cpu<T>(const T*, const T*, const T*, T*, T*, T*, const Conv2dShape&, void*);
LESEG_FOR_FLOAT_TYPES(X)
#undef X
}  // namespace leseg::kernels
