// SPDX-License-Identifier: Apache-2.0
// CPU twin of the comparisons: one output element per index, OpenMP over the output.
#include "kernels/common/cpu_utils.h"
#include "kernels/compare/compare.h"

namespace leseg::kernels {
template <class T>
void compare_cpu(CompareOp op, const T* a, const T* b, uint8_t* out, int64_t n, const BroadcastIndex* bi) {
  if (!bi) {
    cpu::for_each(n, [=](int64_t i) { out[i] = compare_apply(op, a[i], b[i]); });
    return;
  }
  const BroadcastIndex ix = *bi;
  cpu::for_each(n, [=](int64_t i) {
    int64_t oa, ob;
    ix.offsets2(i, oa, ob);
    out[i] = compare_apply(op, a[oa], b[ob]);
  });
}
template <class T>
void compare_scalar_cpu(CompareOp op, const T* x, T s, uint8_t* out, int64_t n) {
  cpu::for_each(n, [=](int64_t i) { out[i] = compare_apply(op, x[i], s); });
}
void logical_not_cpu(const uint8_t* x, uint8_t* out, int64_t n) {
  cpu::for_each(n, [=](int64_t i) { out[i] = x[i] == 0; });
}
#define X(T)                                                                                        \
  template void compare_cpu<T>(CompareOp, const T*, const T*, uint8_t*, int64_t, const BroadcastIndex*); \
  template void compare_scalar_cpu<T>(CompareOp, const T*, T, uint8_t*, int64_t);
X(float) X(double) X(int32_t) X(int64_t) X(uint8_t)
#undef X
}  // namespace leseg::kernels
