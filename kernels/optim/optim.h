// SPDX-License-Identifier: Apache-2.0
// Fused in-place optimizer kernels (no autograd). Per-element math in optim_math.h.
// defines: sgd_step_cpu/_cuda, adam_step_cpu/_cuda, ema_update_cpu/_cuda, scale_cpu/_cuda,
//          norm_partials_cpu/_cuda (+ norm_partials_count)            T: float, double
//
//   sgd_step   p (n), g (n), buf (n or nullptr when momentum == 0)           -> p, buf updated
//   adam_step  p (n), g (n), m (n), v (n), vmax (n or nullptr unless amsgrad) -> p, m, v, vmax updated
//   ema_update t (n), s (n): t = momentum * t + (1 - momentum) * s
//   scale      x (n): x *= alpha
//   norm_partials x (n) -> partials (norm_partials_count(n) doubles, caller-provided workspace):
//     fixed chunking (independent of thread count / launch), so combining the partials in index order
//     gives a deterministic norm. Partial = sum |x|, sum x^2, or max |x| over its chunk.
// There is no backward: these are optimizer updates, not differentiable ops.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/optim/optim_math.h"

namespace leseg::kernels {

template <class T> void sgd_step_cpu(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>& h);
template <class T> void sgd_step_cuda(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>& h, StreamHandle s);

template <class T> void adam_step_cpu(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>& h);
template <class T>
void adam_step_cuda(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>& h, StreamHandle s);

template <class T> void ema_update_cpu(T* t, const T* src, int64_t n, T momentum);
template <class T> void ema_update_cuda(T* t, const T* src, int64_t n, T momentum, StreamHandle s);

template <class T> void scale_cpu(T* x, int64_t n, T alpha);
template <class T> void scale_cuda(T* x, int64_t n, T alpha, StreamHandle s);

// Number of partials (doubles) the workspace must hold for n elements: CPU and CUDA use the same chunks.
constexpr int64_t kNormChunk = 1 << 16;
inline int64_t norm_partials_count(int64_t n) { return n <= 0 ? 0 : (n + kNormChunk - 1) / kNormChunk; }
// CPU: `partials` is host memory. CUDA: `partials` is device memory (norm_partials_count(n) doubles).
template <class T> void norm_partials_cpu(const T* x, int64_t n, NormKind k, double* partials);
template <class T> void norm_partials_cuda(const T* x, int64_t n, NormKind k, double* partials, StreamHandle s);

}  // namespace leseg::kernels
