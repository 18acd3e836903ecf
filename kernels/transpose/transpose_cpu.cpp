// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/all_types.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/transpose/transpose.h"

namespace leseg::kernels {
template <class T>
void permute_cpu(const T* x, T* out, const PermuteParams& p) {
  cpu::for_each(p.numel, [=](int64_t o) { out[o] = x[permute_source_offset(p, o)]; });
}
#define X(T) template void permute_cpu<T>(const T*, T*, const PermuteParams&);
LESEG_FOR_ALL_TYPES(X)
#undef X
}  // namespace leseg::kernels
