// SPDX-License-Identifier: Apache-2.0
// Per-(batch, channel) pooling loops shared by CPU and CUDA. Half inputs (f16/bf16) are read exactly into the
// accumulator (double for the average, f32 for the max comparison) and the average is rounded once at the store:
// the same bits on both devices.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/common/lowp_acc.h"

namespace leseg::kernels::pool {

template <class T>
LESEG_HD T avg_one(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t b, int64_t c) {
  double s = 0;
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; ++i)
    if (coords[4 * i] == b) {
      s += load_double(x[i * C + c]);
      ++cnt;
    }
  return store_from_double<T>(cnt ? s / double(cnt) : 0.0);
}
LESEG_HD int64_t batch_count(const int32_t* coords, int64_t n, int64_t b) {
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; ++i) cnt += coords[4 * i] == b;
  return cnt;
}
template <class T>
LESEG_HD int32_t argmax_one(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t b, int64_t c) {
  int32_t best = -1;
  for (int64_t i = 0; i < n; ++i)
    if (coords[4 * i] == b && (best < 0 || load_acc(x[i * C + c]) > load_acc(x[int64_t(best) * C + c])))
      best = int32_t(i);
  return best;
}

}  // namespace leseg::kernels::pool
