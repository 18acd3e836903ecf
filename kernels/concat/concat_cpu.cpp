// SPDX-License-Identifier: Apache-2.0
#include <cstring>

#include "kernels/common/all_types.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/concat/concat.h"

namespace leseg::kernels {
template <class T>
void copy_rows_cpu(const T* src, T* dst, const CopyRows& p) {
  if (p.width == 0) return;
  const int64_t grain = p.width >= 4096 ? 1 : (1 << 14) / p.width + 1;
  cpu::for_each(
      p.outer,
      [=](int64_t o) {
        std::memcpy(dst + o * p.dst_row + p.dst_offset, src + o * p.src_row + p.src_offset, size_t(p.width) * sizeof(T));
      },
      grain);
}
#define X(T) template void copy_rows_cpu<T>(const T*, T*, const CopyRows&);
LESEG_FOR_ALL_TYPES(X)
#undef X
}  // namespace leseg::kernels
