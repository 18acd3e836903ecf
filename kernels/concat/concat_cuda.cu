// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/all_types.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/concat/concat.h"

namespace leseg::kernels {
template <class T>
void copy_rows_cuda(const T* src, T* dst, const CopyRows& p, StreamHandle stream) {
  if (p.width == 0 || p.outer == 0) return;
  // Contiguous on both sides, or a single row (concat/split along dim 0): one memcpy. A single row must not
  // go through cudaMemcpy2DAsync, whose pitch (here the whole destination row) is limited to
  // cudaDevAttrMaxPitch (2^31 - 1 bytes): concatenating > 2 GiB along dim 0 would fail there.
  if (p.outer == 1 || (p.src_row == p.width && p.dst_row == p.width)) {
    cuda::NvtxRange r("leseg::copy_rows");
    LESEG_CUDA_CHECK(cudaMemcpyAsync(dst + p.dst_offset, src + p.src_offset, size_t(p.outer * p.width) * sizeof(T),
                                     cudaMemcpyDeviceToDevice, cuda::stream_of(stream)));
    return;
  }
  cuda::NvtxRange r("leseg::copy_rows");
  LESEG_CUDA_CHECK(cudaMemcpy2DAsync(dst + p.dst_offset, size_t(p.dst_row) * sizeof(T), src + p.src_offset,
                                     size_t(p.src_row) * sizeof(T), size_t(p.width) * sizeof(T), size_t(p.outer),
                                     cudaMemcpyDeviceToDevice, cuda::stream_of(stream)));
}
#define X(T) template void copy_rows_cuda<T>(const T*, T*, const CopyRows&, StreamHandle);
LESEG_FOR_ALL_TYPES(X)
#undef X
}  // namespace leseg::kernels
