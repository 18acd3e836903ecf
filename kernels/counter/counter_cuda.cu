// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cuda_utils.cuh"
#include "kernels/counter/counter.h"

namespace leseg::kernels {
namespace {
__global__ void increment_i64_kernel(int64_t* p, int64_t by) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *p += by;
}
}  // namespace

void increment_i64_cuda(int64_t* p, int64_t by, StreamHandle s) {
  increment_i64_kernel<<<1, 1, 0, cuda::stream_of(s)>>>(p, by);
  LESEG_CUDA_CHECK_LAUNCH("leseg::increment_i64");
}

}  // namespace leseg::kernels
