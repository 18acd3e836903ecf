// SPDX-License-Identifier: Apache-2.0
// CPU twin of the coordinate hash table: sequential insert (ids in order of first occurrence),
// parallel read-only find.
#include <algorithm>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/coord_hash/coord_hash.h"

namespace leseg::kernels {

int64_t coord_hash_layout(const int64_t* counts, int64_t num_batches, int64_t* region) {
  int64_t begin = 0;
  for (int64_t b = 0; b < num_batches; ++b) {
    int64_t cap = 0;
    if (counts[b] > 0) {
      cap = 2;
      while (cap < 2 * counts[b]) cap <<= 1;
    }
    region[2 * b] = begin;
    region[2 * b + 1] = cap;
    begin += cap;
  }
  return begin;
}

void coord_hash_batch_counts_cpu(const int32_t* coords, int64_t n, int64_t num_batches, int64_t* counts) {
  std::fill(counts, counts + num_batches, int64_t(0));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t b = coords[4 * i];
    LESEG_KCHECK(b >= 0 && b < num_batches, "coord_hash: row ", i, " has batch index ", b, ", expected [0, ",
                 num_batches, ")");
    ++counts[b];
  }
}

int64_t coord_hash_insert_cpu(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* index,
                              int32_t* unique_rows) {
  LESEG_KCHECK(n < int64_t(coord::kEmptyVal), "coord_hash: ", n, " rows exceed the i32 id range");
  std::fill(t.keys, t.keys + t.capacity, coord::kEmptyKey);
  std::fill(t.vals, t.vals + t.capacity, coord::kEmptyVal);
  int32_t num_unique = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* c = coords + 4 * i;
    LESEG_KCHECK(c[0] >= 0 && c[0] < t.num_batches, "coord_hash: row ", i, " has batch index ", c[0],
                 ", expected [0, ", t.num_batches, ")");
    for (int d = 1; d < 4; ++d)
      LESEG_KCHECK(coord::coord_in_range(c[d]), "coord_hash: row ", i, " coordinate ", "bxyz"[d], " = ", c[d],
                   " outside [", coord::kCoordMin, ", ", coord::kCoordMax, "]");
    const int64_t begin = t.region[2 * c[0]], cap = t.region[2 * c[0] + 1];
    LESEG_KCHECK(cap > 0, "coord_hash: batch ", c[0], " has no table region (counts did not match the rows)");
    const uint64_t key = coord::pack_xyz(c[1], c[2], c[3]);
    uint64_t slot = coord::hash64(key) & uint64_t(cap - 1);
    int64_t probe = 0;
    for (; probe < cap; ++probe) {
      uint64_t& k = t.keys[begin + int64_t(slot)];
      if (k == coord::kEmptyKey) {
        k = key;
        t.vals[begin + int64_t(slot)] = num_unique;
        unique_rows[num_unique] = int32_t(i);
        index[i] = num_unique++;
        break;
      }
      if (k == key) {
        index[i] = t.vals[begin + int64_t(slot)];
        break;
      }
      slot = (slot + 1) & uint64_t(cap - 1);
    }
    LESEG_KCHECK(probe < cap, "coord_hash: table region of batch ", c[0], " is full (capacity ", cap, ")");
  }
  return num_unique;
}

void coord_hash_find_cpu(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* out) {
  cpu::for_each(
      n, [&](int64_t i) {
        const int32_t* c = coords + 4 * i;
        out[i] = coord::table_find(t, c[0], c[1], c[2], c[3]);
      },
      1 << 12);
}

void coord_rows_gather_cpu(const int32_t* coords, const int32_t* rows, int64_t n, int32_t* out) {
  cpu::for_each(n, [&](int64_t i) {
    for (int d = 0; d < 4; ++d) out[4 * i + d] = coords[4 * int64_t(rows[i]) + d];
  });
}

}  // namespace leseg::kernels
