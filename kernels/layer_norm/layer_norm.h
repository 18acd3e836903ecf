// SPDX-License-Identifier: Apache-2.0
// layer_norm over the last dim: x (R, D) -> y (R, D), saving mean (R) and rstd (R).
//                                             defines: layer_norm_forward/backward_{cpu,cuda}
//   mean_r = Σ_d x / D;  var_r = Σ_d (x − mean_r)² / D (biased, two passes, double accumulation)
//   rstd_r = 1 / sqrt(var_r + eps);  x̂ = (x − mean_r)·rstd_r;  y = x̂·w_d + b_d   (w = 1, b = 0 when null)
// Backward (ĝ = g·w):
//   dx = rstd·(ĝ − mean_d(ĝ) − x̂·mean_d(ĝ·x̂))     [mean and rstd depend on x]
//   dw_d = Σ_r g·x̂,   db_d = Σ_r g                 (column sums: deterministic, double accumulation)
// Null output pointers skip that gradient. CUDA needs workspace_bytes(R, D) of device scratch for the
// column sums (no atomics). T: float, double
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

size_t layer_norm_workspace_bytes(int64_t R, int64_t D);

template <class T>
void layer_norm_forward_cpu(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t R, int64_t D, double eps);
template <class T>
void layer_norm_backward_cpu(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t R, int64_t D,
                             T* dx, T* dw, T* db);

template <class T>
void layer_norm_forward_cuda(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t R, int64_t D,
                             double eps, StreamHandle s);
template <class T>
void layer_norm_backward_cuda(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t R, int64_t D,
                              T* dx, T* dw, T* db, void* workspace, StreamHandle s);

}  // namespace leseg::kernels
