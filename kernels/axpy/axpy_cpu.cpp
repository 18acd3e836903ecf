// SPDX-License-Identifier: Apache-2.0
#include "kernels/axpy/axpy.h"

#include "kernels/common/cpu_utils.h"

namespace leseg::kernels {
template <class T>
void axpy_cpu(T* y, const T* x, int64_t n, T alpha) {
  cpu::for_each(n, [=](int64_t i) { y[i] += alpha * x[i]; }, 1 << 16);
}
template void axpy_cpu<float>(float*, const float*, int64_t, float);
template void axpy_cpu<double>(double*, const double*, int64_t, double);
}  // namespace leseg::kernels
