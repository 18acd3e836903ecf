// SPDX-License-Identifier: Apache-2.0
// The fixed-order two-pass reduction of the fused losses' accumulators (deterministic mode, losses.h): pass 1 gives
// every block of a grid of at most kDetBlocks blocks its own slot in `partials`; pass 2 is one block of
// kFinishThreads threads per accumulator slot: thread t adds partials t, t + kFinishThreads, ... in increasing
// order, then the threads' sums are combined by a halving tree (t += t + stride, stride = 128, 64, ..., 1). The
// order depends only on the number of blocks, never on timing, so acc repeats bit for bit. fixed_order_sum_host
// replays that order on the host (tests compare the device's result with it).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels::losses {

constexpr int kDetBlocks = 2048;
constexpr int kFinishThreads = 256;

// Blocks of a deterministic-mode launch that would use `blocks` blocks (the loops are grid-strided).
LESEG_HD int64_t det_grid(int64_t blocks) { return blocks < kDetBlocks ? blocks : int64_t(kDetBlocks); }

// Thread t's share of pass 2: partials t, t + kFinishThreads, ... (< n) in increasing order.
LESEG_HD double strided_partial(const double* v, int64_t n, int t) {
  double s = 0.0;
  for (int64_t b = t; b < n; b += kFinishThreads) s += v[b];
  return s;
}

// The whole of pass 2 on the host: the strided sums, then the halving tree.
inline double fixed_order_sum_host(const double* v, int64_t n) {
  double sh[kFinishThreads];
  for (int t = 0; t < kFinishThreads; ++t) sh[t] = strided_partial(v, n, t);
  for (int stride = kFinishThreads / 2; stride > 0; stride /= 2)
    for (int t = 0; t < stride; ++t) sh[t] += sh[t + stride];
  return sh[0];
}

}  // namespace leseg::kernels::losses
