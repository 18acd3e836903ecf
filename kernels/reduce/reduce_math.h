// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the reductions (LESEG_HD): the arg-reduction accumulator and its combine rule.
// max/min: NaN wins (propagates, like PyTorch); among equal values the lowest index wins, so the result
// does not depend on the order partial results are combined (CPU chunks, CUDA block trees).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

struct ArgAcc {
  double v;
  int64_t i;  // -1: empty
};

LESEG_HD ArgAcc arg_combine(ArgAcc a, ArgAcc b, bool is_max) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  bool an = a.v != a.v, bn = b.v != b.v;
  if (an || bn) {
    if (an && bn) return a.i <= b.i ? a : b;
    return an ? a : b;
  }
  if (is_max ? (b.v > a.v) : (b.v < a.v)) return b;
  if (b.v == a.v && b.i < a.i) return b;
  return a;
}

}  // namespace leseg::kernels
