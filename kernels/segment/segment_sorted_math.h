// SPDX-License-Identifier: Apache-2.0
// Index math of the deterministic (sorted) segment reduction, shared by the CUDA kernels and their CPU test:
// the sort key of an element (its group, or G for "no group" / out of range, which sorts last) and the start of a
// group's run in the sorted keys (lower bound). With a stable sort of (key, position) pairs every group's run lists
// its elements in increasing position, so summing a run in order is the CPU twin's order (segment_sum_cpu).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

LESEG_HD uint64_t segment_sort_key(int64_t g, int64_t G) { return g >= 0 && g < G ? uint64_t(g) : uint64_t(G); }

// First p in [0, n) with keys[p] >= v (n when none). Also the run starts of the sorted point_scatter (u32 keys).
template <class Key>
LESEG_HD int64_t sorted_lower_bound(const Key* keys, int64_t n, Key v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Bits the radix sort needs for keys in [0, G], at most max_bits (63 for the u64 keys here, 32 for u32 keys).
LESEG_HD int segment_sort_bits(int64_t G, int max_bits = 63) {
  int b = 1;
  while (b < max_bits && (uint64_t(1) << b) <= uint64_t(G)) ++b;
  return b;
}

}  // namespace leseg::kernels
