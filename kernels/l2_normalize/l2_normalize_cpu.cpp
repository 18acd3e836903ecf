// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cpu_utils.h"
#include "kernels/l2_normalize/l2_normalize.h"
#include "kernels/l2_normalize/l2_normalize_math.h"

namespace leseg::kernels {
template <class T>
void l2_normalize_forward_cpu(const T* x, T* y, T* norm, int64_t outer, int64_t dim, int64_t inner, double eps) {
  cpu::for_each(outer * inner, [=](int64_t l) { l2n_forward_line(x, y, norm, l, dim, inner, eps); },
                dim > 0 ? (1 << 14) / dim + 1 : 1 << 14);
}
template <class T>
void l2_normalize_backward_cpu(const T* g, const T* y, const T* norm, T* dx, int64_t outer, int64_t dim, int64_t inner,
                               double eps) {
  cpu::for_each(outer * inner, [=](int64_t l) { l2n_backward_line(g, y, norm, dx, l, dim, inner, eps); },
                dim > 0 ? (1 << 14) / dim + 1 : 1 << 14);
}
#define X(T)                                                                                                \
  template void l2_normalize_forward_cpu<T>(const T*, T*, T*, int64_t, int64_t, int64_t, double);           \
  template void l2_normalize_backward_cpu<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, double);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
