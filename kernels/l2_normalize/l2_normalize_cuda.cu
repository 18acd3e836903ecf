// SPDX-License-Identifier: Apache-2.0
// One thread per (outer, inner) line: feature dims here are short (≤ a few hundred).
#include "kernels/common/cuda_utils.cuh"
#include "kernels/l2_normalize/l2_normalize.h"
#include "kernels/l2_normalize/l2_normalize_math.h"

namespace leseg::kernels {
template <class T>
void l2_normalize_forward_cuda(const T* x, T* y, T* norm, int64_t outer, int64_t dim, int64_t inner, double eps,
                               StreamHandle s) {
  cuda::for_each(outer * inner, [=] __device__(int64_t l) { l2n_forward_line(x, y, norm, l, dim, inner, eps); }, s,
                 "leseg::l2_normalize_forward");
}
template <class T>
void l2_normalize_backward_cuda(const T* g, const T* y, const T* norm, T* dx, int64_t outer, int64_t dim,
                                int64_t inner, double eps, StreamHandle s) {
  cuda::for_each(outer * inner, [=] __device__(int64_t l) { l2n_backward_line(g, y, norm, dx, l, dim, inner, eps); },
                 s, "leseg::l2_normalize_backward");
}
#define X(T)                                                                                                     \
  template void l2_normalize_forward_cuda<T>(const T*, T*, T*, int64_t, int64_t, int64_t, double, StreamHandle); \
  template void l2_normalize_backward_cuda<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, double, \
                                              StreamHandle);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
