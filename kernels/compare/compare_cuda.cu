// SPDX-License-Identifier: Apache-2.0
// CUDA comparisons: the same predicate (compare_math.h) per output element, checked grid-stride launches.
#include "kernels/common/cuda_utils.cuh"
#include "kernels/compare/compare.h"

namespace leseg::kernels {
template <class T>
void compare_cuda(CompareOp op, const T* a, const T* b, uint8_t* out, int64_t n, const BroadcastIndex* bi, StreamHandle s) {
  if (!bi) {
    cuda::for_each(n, [=] __device__(int64_t i) { out[i] = compare_apply(op, a[i], b[i]); }, s, "leseg::compare");
    return;
  }
  const BroadcastIndex ix = *bi;
  cuda::for_each(n, [=] __device__(int64_t i) {
    int64_t oa, ob;
    ix.offsets2(i, oa, ob);
    out[i] = compare_apply(op, a[oa], b[ob]);
  }, s, "leseg::compare");
}
template <class T>
void compare_scalar_cuda(CompareOp op, const T* x, T sv, uint8_t* out, int64_t n, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = compare_apply(op, x[i], sv); }, s, "leseg::compare_scalar");
}
void logical_not_cuda(const uint8_t* x, uint8_t* out, int64_t n, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = x[i] == 0; }, s, "leseg::logical_not");
}
#define X(T)                                                                                                     \
  template void compare_cuda<T>(CompareOp, const T*, const T*, uint8_t*, int64_t, const BroadcastIndex*, StreamHandle); \
  template void compare_scalar_cuda<T>(CompareOp, const T*, T, uint8_t*, int64_t, StreamHandle);
X(float) X(double) X(int32_t) X(int64_t) X(uint8_t)
#undef X
}  // namespace leseg::kernels
