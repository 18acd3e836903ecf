// SPDX-License-Identifier: Apache-2.0
// Fused batch norm + ReLU (+ residual add) over point features x (N, C), CPU only (the sparse blocks' norm
// layers: MinkUNet's BasicBlock is conv -> bn -> relu and conv -> bn -> (+ residual) -> relu).
//   stats (one pass):  per channel, with a shift s_c = x[0, c]:  S1 = Σ (x − s),  S2 = Σ (x − s)²  (double,
//                      deterministic row pieces);  mean = s + S1/M,  var = max(0, S2/M − (S1/M)²)
//                      (biased; the shift keeps the difference of squares away from cancellation when |mean| >> std)
//   forward:           y = max(0, (x − mean)·rstd·w + b [+ r])       (the same per-element formula as
//                      relu(add(batch_norm(x), r)): bn_apply, then the add, then the max)
//   backward (one reduction pass + one element pass):  gz = g · [y > 0]  (relu'(0) = 0, as relu);  dr = gz;
//                      dw = rstd·Σ gz·(x − mean) (= Σ gz·x̂),  db = Σ gz (double sums);  dx = k1·(gz − mg − x̂·mgx) with
//                      the per-channel constants of batch_norm_backward_cpu rounded to T and the element math in T
//                      (the unfused path uses double per element: agreement to float rounding); eval: gz·w·rstd
// Null outputs skip that gradient. Deterministic for any thread count (fixed row pieces). T: float, double.
// Built for baseline x86-64 and x86-64-v3 (batch_norm_relu_cpu_impl.h), picked at run time (kernels/common/isa.h).
// CUDA: no fused kernel; the engine op (engine/nn/batch_norm_relu.h) runs the unfused composition there.
#pragma once
#include <cstdint>

namespace leseg::kernels {

template <class T>
void batch_norm_stats_onepass_cpu(const T* x, int64_t N, int64_t C, T* mean, T* var);
template <class T>
void batch_norm_relu_forward_cpu(const T* x, const T* mean, const T* rstd, const T* w, const T* b, const T* residual,
                                 T* y, int64_t N, int64_t C);
template <class T>
void batch_norm_relu_backward_cpu(const T* g, const T* y, const T* x, const T* mean, const T* rstd, const T* w,
                                  int64_t N, int64_t C, bool training, T* dx, T* dw, T* db, T* dresidual);

}  // namespace leseg::kernels
