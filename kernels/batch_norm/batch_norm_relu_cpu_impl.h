// SPDX-License-Identifier: Apache-2.0
// Body of the fused CPU batch norm + ReLU (batch_norm_relu_cpu.h), compiled once per instruction set
// (kernels/common/isa.h): included by batch_norm_relu_cpu.cpp in namespace isa_baseline and by
// batch_norm_relu_cpu_x86v3.cpp (-march=x86-64-v3) in namespace isa_x86v3. Plain loops over contiguous channels
// (the compiler vectorises them); no std:: containers or algorithms (their out-of-line instantiations would be
// shared between the copies); scratch comes from the caller. Reductions: rows cut into `chunks` fixed pieces (a
// function of N only), one partial row per piece, added in piece order by the caller: the same bits for any
// thread count.
#ifndef LESEG_ISA_NS
#error "define LESEG_ISA_NS before including batch_norm_relu_cpu_impl.h"
#endif
#include <cstdint>

namespace leseg::kernels::LESEG_ISA_NS::bn_relu {

// part (chunks, 2, C): Σ d and Σ d² with d = x − shift, per chunk.
template <class T>
void stats_partials(const T* x, int64_t N, int64_t C, const double* shift, int64_t chunks, double* part) {
#pragma omp parallel for schedule(static) if (N * C >= (1 << 16))
  for (int64_t k = 0; k < chunks; ++k) {
    double* pa = part + k * 2 * C;
    double* pb = pa + C;
    for (int64_t c = 0; c < C; ++c) pa[c] = 0, pb[c] = 0;
    const int64_t n0 = N * k / chunks, n1 = N * (k + 1) / chunks;
    for (int64_t n = n0; n < n1; ++n) {
      const T* xr = x + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const double d = double(xr[c]) - shift[c];
        pa[c] += d;
        pb[c] += d * d;
      }
    }
  }
}

// y = max(0, (x − mean)·rstd·w + b [+ r]): bn_apply's per-element formula, then the add, then the max.
template <class T>
void forward(const T* x, const T* mean, const T* rstd, const T* w, const T* b, const T* r, T* y, int64_t N,
             int64_t C) {
#pragma omp parallel for schedule(static) if (N * C >= (1 << 16))
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    T* yr = y + n * C;
    if (r) {
      const T* rr = r + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const T z = (xr[c] - mean[c]) * rstd[c] * w[c] + b[c] + rr[c];
        yr[c] = z > T(0) ? z : T(0);
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const T z = (xr[c] - mean[c]) * rstd[c] * w[c] + b[c];
        yr[c] = z > T(0) ? z : T(0);
      }
    }
  }
}

// part (chunks, 2, C): Σ gz and Σ gz·(x − mean), gz = g·[y > 0].
constexpr int64_t kBlock = 64;  // channels per block of backward_partials' masked gradient

template <class T>
void backward_partials(const T* g, const T* y, const T* x, const T* mean, int64_t N, int64_t C, int64_t chunks,
                       double* part) {
#pragma omp parallel for schedule(static) if (N * C >= (1 << 16))
  for (int64_t k = 0; k < chunks; ++k) {
    double* pa = part + k * 2 * C;
    double* pb = pa + C;
    for (int64_t c = 0; c < C; ++c) pa[c] = 0, pb[c] = 0;
    const int64_t n0 = N * k / chunks, n1 = N * (k + 1) / chunks;
    for (int64_t n = n0; n < n1; ++n) {
      const T* gr = g + n * C;
      const T* yr = y + n * C;
      const T* xr = x + n * C;
      // The ReLU mask applied in T into a small buffer, then the double sums: a select feeding a double
      // accumulation does not vectorise (GCC 12), the two same-width loops do; the values are the same.
      for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
        const int64_t cb = C - c0 < kBlock ? C - c0 : kBlock;
        T gzb[kBlock];
        for (int64_t c = 0; c < cb; ++c) {
          const T gv = gr[c0 + c];
          gzb[c] = yr[c0 + c] > T(0) ? gv : T(0);
        }
        for (int64_t c = 0; c < cb; ++c) {
          const double gz = double(gzb[c]);
          pa[c0 + c] += gz;
          pb[c0 + c] += gz * (double(xr[c0 + c]) - double(mean[c0 + c]));
        }
      }
    }
  }
}

// dres = gz; dx = k1·(gz − mg − x̂·mgx) (training; x̂ = (x − mean)·rstd) or gz·ke (eval). Constants per channel
// in T (k1, mg, mgx, ke), computed in double by the caller.
template <class T>
void backward_apply(const T* g, const T* y, const T* x, const T* mean, const T* rstd, const T* k1, const T* mg,
                    const T* mgx, const T* ke, int64_t N, int64_t C, bool training, T* dx, T* dres) {
#pragma omp parallel for schedule(static) if (N * C >= (1 << 16))
  for (int64_t n = 0; n < N; ++n) {
    const T* gr = g + n * C;
    const T* yr = y + n * C;
    const T* xr = x + n * C;
    if (dres) {
      T* dr = dres + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const T gv = gr[c];
        dr[c] = yr[c] > T(0) ? gv : T(0);
      }
    }
    if (!dx) continue;
    T* d = dx + n * C;
    if (training) {
      for (int64_t c = 0; c < C; ++c) {
        const T gv = gr[c];
        const T gz = yr[c] > T(0) ? gv : T(0);
        d[c] = k1[c] * (gz - mg[c] - (xr[c] - mean[c]) * rstd[c] * mgx[c]);
      }
    } else {
      for (int64_t c = 0; c < C; ++c) {
        const T gv = gr[c];
        d[c] = (yr[c] > T(0) ? gv : T(0)) * ke[c];
      }
    }
  }
}

}  // namespace leseg::kernels::LESEG_ISA_NS::bn_relu
