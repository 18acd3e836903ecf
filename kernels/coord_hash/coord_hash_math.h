// SPDX-License-Identifier: Apache-2.0
// Coordinate packing and hashing shared by the CPU twin and the CUDA table (one definition).
//
// Key = the FULL packed spatial coordinate, compared exactly (never a hash used as a key):
//   bits 42..62: x + 2^20, bits 21..41: y + 2^20, bits 0..20: z + 2^20    (21 bits each, bit 63 = 0)
// so x, y, z must lie in [kCoordMin, kCoordMax] = [-2^20, 2^20 - 1].
// The batch index does not fit in the remaining bit, so the table is split into one region per batch
// element (region b = slots [begin_b, begin_b + cap_b), cap_b = next pow2 >= 2 * N_b, load <= 0.5):
// the batch selects the region, the 63-bit key is compared exactly inside it. A coordinate is therefore
// matched on all four of (b, x, y, z). kEmptyKey (all ones) can never be a packed key (bit 63 is 0).
// Probing: linear, start = hash64(key) & (cap_b - 1), at most cap_b probes (then "full").
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels::coord {

constexpr int kCoordBits = 21;
constexpr int32_t kCoordBias = 1 << 20;
constexpr int32_t kCoordMin = -(1 << 20);
constexpr int32_t kCoordMax = (1 << 20) - 1;
constexpr uint64_t kEmptyKey = ~0ull;
constexpr int32_t kEmptyVal = 0x7fffffff;
constexpr int32_t kMaxBatch = 1 << 24;  // batch indices in [0, kMaxBatch)

LESEG_HD bool coord_in_range(int32_t v) { return v >= kCoordMin && v <= kCoordMax; }
LESEG_HD bool xyz_in_range(int32_t x, int32_t y, int32_t z) {
  return coord_in_range(x) && coord_in_range(y) && coord_in_range(z);
}
// Precondition: xyz_in_range(x, y, z).
LESEG_HD uint64_t pack_xyz(int32_t x, int32_t y, int32_t z) {
  constexpr uint64_t m = (1ull << kCoordBits) - 1;
  return ((uint64_t(uint32_t(x + kCoordBias)) & m) << 42) | ((uint64_t(uint32_t(y + kCoordBias)) & m) << 21) |
         (uint64_t(uint32_t(z + kCoordBias)) & m);
}
LESEG_HD void unpack_xyz(uint64_t k, int32_t& x, int32_t& y, int32_t& z) {
  constexpr uint64_t m = (1ull << kCoordBits) - 1;
  x = int32_t((k >> 42) & m) - kCoordBias;
  y = int32_t((k >> 21) & m) - kCoordBias;
  z = int32_t(k & m) - kCoordBias;
}
// splitmix64 finaliser: full avalanche, so neighbouring voxels spread over the table.
LESEG_HD uint64_t hash64(uint64_t k) {
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebull;
  k ^= k >> 31;
  return k;
}

// Floor division for (possibly negative) a by positive b.
LESEG_HD int32_t floor_div(int32_t a, int32_t b) {
  int32_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Device-or-host view of a region-split table. `region` holds (begin, cap) pairs per batch element.
struct TableView {
  uint64_t* keys = nullptr;       // (capacity,)
  int32_t* vals = nullptr;        // (capacity,)
  const int64_t* region = nullptr;  // (2 * num_batches,)  begin_b, cap_b (power of two)
  int64_t num_batches = 0;
  int64_t capacity = 0;
};

// Index of the value for (b, x, y, z), or -1 when absent or out of range. Read-only: safe after the
// insert pass has finished (CPU or a later CUDA launch).
LESEG_HD int32_t table_find(const TableView& t, int32_t b, int32_t x, int32_t y, int32_t z) {
  if (b < 0 || int64_t(b) >= t.num_batches || !xyz_in_range(x, y, z)) return -1;
  const int64_t begin = t.region[2 * b], cap = t.region[2 * b + 1];
  if (cap == 0) return -1;
  const uint64_t key = pack_xyz(x, y, z);
  uint64_t slot = hash64(key) & uint64_t(cap - 1);
  for (int64_t probe = 0; probe < cap; ++probe) {
    const uint64_t k = t.keys[begin + int64_t(slot)];
    if (k == key) return t.vals[begin + int64_t(slot)];
    if (k == kEmptyKey) return -1;
    slot = (slot + 1) & uint64_t(cap - 1);
  }
  return -1;
}

}  // namespace leseg::kernels::coord
