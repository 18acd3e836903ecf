// SPDX-License-Identifier: Apache-2.0
// batch_norm over x (N, C, L) (L = product of trailing dims; 1 for (N, C) point features), per channel c,
// M = N·L samples per channel.        defines: batch_norm_{stats,finalize,forward,backward}_{cpu,cuda}
//   stats:    mean_c = Σ x / M;  var_c = Σ (x − mean_c)² / M   (two passes, double accumulation; biased)
//   finalize: rstd_c = 1 / sqrt(var_c + eps); when running buffers are given (training):
//             running_mean = (1 − m)·running_mean + m·mean;  running_var = (1 − m)·running_var + m·var·M/(M−1)
//   forward:  y = (x − mean_c)·rstd_c·w_c + b_c      (w = 1, b = 0 when null; eval passes running stats)
// Backward (x̂ = (x − mean)·rstd, ĝ = g·w):
//   dw_c = Σ g·x̂,  db_c = Σ g
//   training (mean, rstd depend on x):  dx = w·rstd·(g − db_c/M − x̂·dw_c/M)   (x̂ recomputed in double)
//     [from dx̂ = ĝ, dvar and dmean terms: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), with mean(ĝ) = w·db/M]
//   eval (constants):                   dx = g·w·rstd
// Null output pointers skip that gradient. CUDA needs workspace_bytes(N, C, L) of device scratch for the
// deterministic channel reductions (no atomics); the CPU twin needs none from the caller.
// T: float, double
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

size_t batch_norm_workspace_bytes(int64_t N, int64_t C, int64_t L);

// channel_sum: out[c] = Σ_{n,l} x[n, c, l] (double accumulation, deterministic). The bias gradient of
// linear is channel_sum over (rows, out, 1). CUDA workspace: batch_norm_workspace_bytes(N, C, L).
template <class T> void channel_sum_cpu(const T* x, int64_t N, int64_t C, int64_t L, T* out);
template <class T>
void channel_sum_cuda(const T* x, int64_t N, int64_t C, int64_t L, T* out, void* workspace, StreamHandle s);

template <class T> void batch_norm_stats_cpu(const T* x, int64_t N, int64_t C, int64_t L, T* mean, T* var);
template <class T>
void batch_norm_finalize_cpu(const T* mean, const T* var, int64_t C, int64_t M, double eps, double momentum,
                             T* running_mean, T* running_var, T* rstd);
template <class T>
void batch_norm_forward_cpu(const T* x, const T* mean, const T* rstd, const T* w, const T* b, T* y, int64_t N,
                            int64_t C, int64_t L);
template <class T>
void batch_norm_backward_cpu(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t N, int64_t C,
                             int64_t L, bool training, T* dx, T* dw, T* db);

template <class T>
void batch_norm_stats_cuda(const T* x, int64_t N, int64_t C, int64_t L, T* mean, T* var, void* workspace,
                           StreamHandle s);
template <class T>
void batch_norm_finalize_cuda(const T* mean, const T* var, int64_t C, int64_t M, double eps, double momentum,
                              T* running_mean, T* running_var, T* rstd, StreamHandle s);
template <class T>
void batch_norm_forward_cuda(const T* x, const T* mean, const T* rstd, const T* w, const T* b, T* y, int64_t N,
                             int64_t C, int64_t L, StreamHandle s);
template <class T>
void batch_norm_backward_cuda(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t N, int64_t C,
                              int64_t L, bool training, T* dx, T* dw, T* db, void* workspace, StreamHandle s);

}  // namespace leseg::kernels
