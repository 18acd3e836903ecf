// SPDX-License-Identifier: Apache-2.0
#include "kernels/axpy/axpy.h"
#include "kernels/common/cuda_utils.cuh"

namespace leseg::kernels {
template <class T>
void axpy_cuda(T* y, const T* x, int64_t n, T alpha, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { y[i] += alpha * x[i]; }, s, "leseg::axpy");
}
template void axpy_cuda<float>(float*, const float*, int64_t, float, StreamHandle);
template void axpy_cuda<double>(double*, const double*, int64_t, double, StreamHandle);
}  // namespace leseg::kernels
