// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cstring>

#include "kernels/common/all_types.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/index/index.h"

namespace leseg::kernels {

template <class T, class I>
void index_select_rows_cpu(const T* x, int64_t R, int64_t D, const I* idx, int64_t n, T* out) {
  if (D == 0) return;
  cpu::for_each(
      n, [=](int64_t i) { std::memcpy(out + i * D, x + int64_t(idx[i]) * D, size_t(D) * sizeof(T)); },
      (1 << 14) / D + 1);
}

template <class T, class I>
void index_add_rows_cpu(T* out, int64_t R, int64_t D, const I* idx, int64_t n, const T* src) {
  if (D == 0 || n == 0) return;
  // Threads split the columns; every column adds its sources in i order (deterministic, race-free).
  const int64_t block = 16;
  const int64_t blocks = (D + block - 1) / block;
#pragma omp parallel for schedule(static) if (n * D >= (1 << 15) && blocks > 1)
  for (int64_t cb = 0; cb < blocks; ++cb) {
    const int64_t d0 = cb * block, d1 = std::min(D, d0 + block);
    for (int64_t i = 0; i < n; ++i) {
      T* o = out + int64_t(idx[i]) * D;
      const T* s = src + i * D;
      for (int64_t d = d0; d < d1; ++d) o[d] += s[d];
    }
  }
}

template <class I>
int64_t index_first_bad_cpu(const I* idx, int64_t n, int64_t R) {
  for (int64_t i = 0; i < n; ++i)
    if (int64_t(idx[i]) < 0 || int64_t(idx[i]) >= R) return i;
  return n;
}

#define SEL(T, I) template void index_select_rows_cpu<T, I>(const T*, int64_t, int64_t, const I*, int64_t, T*);
#define SEL_BOTH(T) SEL(T, int32_t) SEL(T, int64_t)
LESEG_FOR_ALL_TYPES(SEL_BOTH)
#undef SEL_BOTH
#undef SEL
template void index_add_rows_cpu<float, int32_t>(float*, int64_t, int64_t, const int32_t*, int64_t, const float*);
template void index_add_rows_cpu<float, int64_t>(float*, int64_t, int64_t, const int64_t*, int64_t, const float*);
template void index_add_rows_cpu<double, int32_t>(double*, int64_t, int64_t, const int32_t*, int64_t, const double*);
template void index_add_rows_cpu<double, int64_t>(double*, int64_t, int64_t, const int64_t*, int64_t, const double*);
template int64_t index_first_bad_cpu<int32_t>(const int32_t*, int64_t, int64_t);
template int64_t index_first_bad_cpu<int64_t>(const int64_t*, int64_t, int64_t);

}  // namespace leseg::kernels
