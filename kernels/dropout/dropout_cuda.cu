// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cuda_utils.cuh"
#include "kernels/dropout/dropout.h"

namespace leseg::kernels {
template <class T>
void dropout_apply_cuda(const T* x, const uint8_t* mask, T* out, int64_t n, T scale, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = mask[i] ? x[i] * scale : T(0); }, s, "leseg::dropout");
}
template void dropout_apply_cuda<float>(const float*, const uint8_t*, float*, int64_t, float, StreamHandle);
template void dropout_apply_cuda<double>(const double*, const uint8_t*, double*, int64_t, double, StreamHandle);
}  // namespace leseg::kernels
