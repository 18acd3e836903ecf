// SPDX-License-Identifier: Apache-2.0
#include "kernels/clip_grad/clip_grad.h"
#include "kernels/common/cuda_utils.cuh"

namespace leseg::kernels {
namespace {
__global__ void clip_finish_kernel(const double* partials, int64_t np, NormKind k, double max_norm, double* out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const ClipResult r = clip_finish(partials, np, k, max_norm);
  out[0] = r.total;
  out[1] = r.coef;
}
}  // namespace

void clip_finish_cuda(const double* partials, int64_t np, NormKind k, double max_norm, double* out, StreamHandle s) {
  clip_finish_kernel<<<1, 1, 0, cuda::stream_of(s)>>>(partials, np, k, max_norm, out);
  LESEG_CUDA_CHECK_LAUNCH("leseg::clip_finish");
}

template <class T>
void scale_by_cuda(T* x, int64_t n, const double* coef, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { x[i] = x[i] * T(coef[1]); }, s, "leseg::scale_by");
}

template void scale_by_cuda<float>(float*, int64_t, const double*, StreamHandle);
template void scale_by_cuda<double>(double*, int64_t, const double*, StreamHandle);

}  // namespace leseg::kernels
