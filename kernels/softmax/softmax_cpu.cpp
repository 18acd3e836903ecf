// SPDX-License-Identifier: Apache-2.0
#include <cmath>
#include <limits>

#include "kernels/common/cpu_utils.h"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_math.h"

namespace leseg::kernels {

template <class T>
void softmax_forward_cpu(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log) {
  const int64_t grain = dim > 0 ? (1 << 14) / dim + 1 : 1 << 14;
  cpu::for_each(
      outer * inner,
      [=](int64_t row) {
        const int64_t o = row / inner, i = row % inner;
        const T* xr = x + o * dim * inner + i;
        T* yr = y + o * dim * inner + i;
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < dim; ++j) m = std::max(m, double(xr[j * inner]));
        double s = 0;
        if (log) {
          for (int64_t j = 0; j < dim; ++j) s += std::exp(double(xr[j * inner]) - m);
          for (int64_t j = 0; j < dim; ++j) yr[j * inner] = softmax_out(xr[j * inner], m, s, true);
        } else if (inner == 1 && dim <= 4096) {
          // One exp per element: keep exp(x − m) in double scratch, then scale (softmax_out up to rounding).
          double e[4096];
          for (int64_t j = 0; j < dim; ++j) s += (e[j] = std::exp(double(xr[j]) - m));
          const double inv = 1.0 / s;
          for (int64_t j = 0; j < dim; ++j) yr[j] = T(e[j] * inv);
        } else {
          for (int64_t j = 0; j < dim; ++j) s += std::exp(double(xr[j * inner]) - m);
          for (int64_t j = 0; j < dim; ++j) yr[j * inner] = softmax_out(xr[j * inner], m, s, false);
        }
      },
      grain);
}

template <class T>
void softmax_backward_cpu(const T* g, const T* y, T* dx, int64_t outer, int64_t dim, int64_t inner, bool log) {
  const int64_t grain = dim > 0 ? (1 << 14) / dim + 1 : 1 << 14;
  cpu::for_each(
      outer * inner,
      [=](int64_t row) {
        const int64_t base = (row / inner) * dim * inner + row % inner;
        double dot = 0;
        for (int64_t j = 0; j < dim; ++j) dot += softmax_bwd_term(g[base + j * inner], y[base + j * inner], log);
        for (int64_t j = 0; j < dim; ++j) {
          const int64_t k = base + j * inner;
          dx[k] = softmax_bwd_out(g[k], y[k], dot, log);
        }
      },
      grain);
}

#define X(T)                                                                                      \
  template void softmax_forward_cpu<T>(const T*, T*, int64_t, int64_t, int64_t, bool);            \
  template void softmax_backward_cpu<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
