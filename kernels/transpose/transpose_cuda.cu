// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/all_types.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/transpose/transpose.h"

namespace leseg::kernels {
template <class T>
void permute_cuda(const T* x, T* out, const PermuteParams& p, StreamHandle stream) {
  cuda::for_each(p.numel, [=] __device__(int64_t o) { out[o] = x[permute_source_offset(p, o)]; }, stream, "leseg::permute");
}
#define X(T) template void permute_cuda<T>(const T*, T*, const PermuteParams&, StreamHandle);
LESEG_FOR_ALL_TYPES(X)
#undef X
}  // namespace leseg::kernels
