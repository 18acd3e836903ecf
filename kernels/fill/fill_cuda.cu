// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/all_types.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/fill/fill.h"

namespace leseg::kernels {
template <class T>
void fill_cuda(T* out, int64_t n, T value, StreamHandle stream) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = value; }, stream, "leseg::fill");
}
#define X(T) template void fill_cuda<T>(T*, int64_t, T, StreamHandle);
LESEG_FOR_ALL_TYPES(X)
#undef X
}  // namespace leseg::kernels
