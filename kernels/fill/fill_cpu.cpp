// SPDX-License-Identifier: Apache-2.0
#include "kernels/fill/fill.h"

#include "kernels/common/all_types.h"
#include "kernels/common/cpu_utils.h"

namespace leseg::kernels {
template <class T>
void fill_cpu(T* out, int64_t n, T value) {
  cpu::for_each(n, [=](int64_t i) { out[i] = value; }, 1 << 16);
}
#define X(T) template void fill_cpu<T>(T*, int64_t, T);
LESEG_FOR_ALL_TYPES(X)
#undef X
}  // namespace leseg::kernels
