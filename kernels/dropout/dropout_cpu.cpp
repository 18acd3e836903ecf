// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cpu_utils.h"
#include "kernels/dropout/dropout.h"

namespace leseg::kernels {
template <class T>
void dropout_apply_cpu(const T* x, const uint8_t* mask, T* out, int64_t n, T scale) {
  cpu::for_each(n, [=](int64_t i) { out[i] = mask[i] ? x[i] * scale : T(0); }, 1 << 16);
}
template void dropout_apply_cpu<float>(const float*, const uint8_t*, float*, int64_t, float);
template void dropout_apply_cpu<double>(const double*, const uint8_t*, double*, int64_t, double);
}  // namespace leseg::kernels
