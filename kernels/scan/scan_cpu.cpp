// SPDX-License-Identifier: Apache-2.0
#include "kernels/scan/scan.h"

namespace leseg::kernels {

template <class T>
void cumsum_i64_cpu(const T* x, int64_t n, bool exclusive, int64_t* out) {
  int64_t acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = int64_t(x[i]);  // read before the write: x and out may alias (i64 in place)
    if (exclusive) {
      out[i] = acc;
      acc += v;
    } else {
      acc += v;
      out[i] = acc;
    }
  }
}

template void cumsum_i64_cpu<int32_t>(const int32_t*, int64_t, bool, int64_t*);
template void cumsum_i64_cpu<int64_t>(const int64_t*, int64_t, bool, int64_t*);
template void cumsum_i64_cpu<uint8_t>(const uint8_t*, int64_t, bool, int64_t*);

}  // namespace leseg::kernels
