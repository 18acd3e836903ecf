// SPDX-License-Identifier: Apache-2.0
// One (outer, inner) line of l2_normalize, shared by the CPU twin and the CUDA kernel (thread per line).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

template <class T>
LESEG_HD void l2n_forward_line(const T* x, T* y, T* norm, int64_t line, int64_t dim, int64_t inner, double eps) {
  const int64_t base = (line / inner) * dim * inner + line % inner;
  double q = 0;
  for (int64_t j = 0; j < dim; ++j) q += double(x[base + j * inner]) * double(x[base + j * inner]);
  const double n = sqrt(q);
  const double d = n > eps ? n : eps;
  for (int64_t j = 0; j < dim; ++j) y[base + j * inner] = T(double(x[base + j * inner]) / d);
  norm[line] = T(n);
}

template <class T>
LESEG_HD void l2n_backward_line(const T* g, const T* y, const T* norm, T* dx, int64_t line, int64_t dim, int64_t inner,
                                double eps) {
  const int64_t base = (line / inner) * dim * inner + line % inner;
  const double n = double(norm[line]);
  const double d = n > eps ? n : eps;
  double dot = 0;
  if (n > eps)
    for (int64_t j = 0; j < dim; ++j) dot += double(g[base + j * inner]) * double(y[base + j * inner]);
  for (int64_t j = 0; j < dim; ++j) {
    const int64_t k = base + j * inner;
    dx[k] = T((double(g[k]) - double(y[k]) * dot) / d);
  }
}

}  // namespace leseg::kernels
