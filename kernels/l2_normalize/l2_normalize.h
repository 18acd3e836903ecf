// SPDX-License-Identifier: Apache-2.0
// l2_normalize along one dim of x viewed as (outer, dim, inner):   defines: l2_normalize_forward/backward_{cpu,cuda}
//   n = sqrt(Σ_j x_j²) (double accumulation);  d = max(n, eps);  y_j = x_j / d
// Backward (saved: y and d per line):
//   n > eps:  dx_j = (g_j − y_j·Σ_k g_k y_k) / d      [∂(x/‖x‖) = (I − y yᵀ)/‖x‖]
//   n ≤ eps:  dx_j = g_j / d                          [d is the constant eps]
// norm has one value per (outer, inner) line. T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
template <class T>
void l2_normalize_forward_cpu(const T* x, T* y, T* norm, int64_t outer, int64_t dim, int64_t inner, double eps);
template <class T>
void l2_normalize_backward_cpu(const T* g, const T* y, const T* norm, T* dx, int64_t outer, int64_t dim, int64_t inner,
                               double eps);
template <class T>
void l2_normalize_forward_cuda(const T* x, T* y, T* norm, int64_t outer, int64_t dim, int64_t inner, double eps,
                               StreamHandle s);
template <class T>
void l2_normalize_backward_cuda(const T* g, const T* y, const T* norm, T* dx, int64_t outer, int64_t dim,
                                int64_t inner, double eps, StreamHandle s);
}  // namespace leseg::kernels
