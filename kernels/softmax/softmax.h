// SPDX-License-Identifier: Apache-2.0
// softmax / log_softmax along one dim of x viewed as (outer, dim, inner); rows are the dim-long lines.
//                                             defines: softmax_forward/backward_{cpu,cuda}
//   m = max_j x_j;  s = Σ_j exp(x_j − m)   (double accumulation)
//   softmax:      y_j = exp(x_j − m) / s
//   log_softmax:  y_j = x_j − m − log s
// Backward from the saved output y and upstream g:
//   softmax:      dx_j = y_j·(g_j − Σ_k g_k y_k)          [J = diag(y) − y yᵀ]
//   log_softmax:  dx_j = g_j − exp(y_j)·Σ_k g_k          [J = I − 1·softmaxᵀ]
// Fast path inner == 1 (the last dim); general dims walk the (outer, inner) columns.
// T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
template <class T>
void softmax_forward_cpu(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log);
template <class T>
void softmax_backward_cpu(const T* g, const T* y, T* dx, int64_t outer, int64_t dim, int64_t inner, bool log);
template <class T>
void softmax_forward_cuda(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log, StreamHandle s);
template <class T>
void softmax_backward_cuda(const T* g, const T* y, T* dx, int64_t outer, int64_t dim, int64_t inner, bool log,
                           StreamHandle s);
}  // namespace leseg::kernels
