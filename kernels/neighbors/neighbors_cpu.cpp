// SPDX-License-Identifier: Apache-2.0
// CPU twin of the voxel-hash-grid neighbour search (the specification): a counting-sort grid build and
// per-query loops from neighbors_math.h, OpenMP over queries (each writes only its own rows).
#include <cmath>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/neighbors/neighbors.h"
#include "kernels/neighbors/neighbors_math.h"

namespace leseg::kernels {

uint64_t neighbors_grid_capacity(int64_t n) {
  uint64_t c = 16;
  while (c < uint64_t(2 * (n > 0 ? n : 1))) c <<= 1;
  return c;
}

void neighbors_grid_build_cpu(const float* ref, int64_t n, float cell, uint64_t capacity, uint64_t* keys,
                              int64_t* start, int32_t* count, int32_t* sorted_idx, GridParams* params) {
  LESEG_KCHECK(cell > 0.f && std::isfinite(cell), "neighbors grid: cell size must be positive, got ", cell);
  LESEG_KCHECK(capacity >= 16 && (capacity & (capacity - 1)) == 0 && capacity >= uint64_t(n),
               "neighbors grid: capacity ", capacity, " must be a power of two >= max(16, n = ", n, ")");
  LESEG_KCHECK(n < (int64_t(1) << 31), "neighbors grid: ", n, " points exceed i32 indices");
  GridParams P;
  P.cell = cell;
  for (uint64_t s = 0; s < capacity; ++s) {
    keys[s] = nbr::kEmptyKey;
    start[s] = 0;
    count[s] = 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    int32_t c[3];
    for (int a = 0; a < 3; ++a) {
      const float p = ref[3 * i + a];
      LESEG_KCHECK(std::isfinite(p), "neighbors grid: point ", i, " has a non-finite coordinate");
      const double cd = std::floor(double(p) / double(cell));
      LESEG_KCHECK(std::fabs(cd) < double(nbr::kCellRange), "neighbors grid: point ", i, " lies in cell ", cd,
                   " beyond the packable range +-2^20 (cell size ", cell, " too small for the extent)");
      c[a] = nbr::cell_of(p, cell);
      if (i == 0 || c[a] < P.lo[a]) P.lo[a] = c[a];
      if (i == 0 || c[a] > P.hi[a]) P.hi[a] = c[a];
    }
    const uint64_t key = nbr::pack_cell(c[0], c[1], c[2]);
    uint64_t s = nbr::hash_key(key) & (capacity - 1);
    while (keys[s] != nbr::kEmptyKey && keys[s] != key) s = (s + 1) & (capacity - 1);
    keys[s] = key;
    ++count[s];
  }
  int64_t run = 0;
  for (uint64_t s = 0; s < capacity; ++s) {
    start[s] = run;
    run += count[s];
  }
  // Scatter in point order (ascending inside a cell), using start[] as the cursor, then rewind it.
  for (int64_t i = 0; i < n; ++i) {
    const float* p = ref + 3 * i;
    const int64_t s = nbr::find_slot(keys, capacity, nbr::pack_cell(nbr::cell_of(p[0], cell), nbr::cell_of(p[1], cell),
                                                                    nbr::cell_of(p[2], cell)));
    sorted_idx[start[s]++] = int32_t(i);
  }
  for (uint64_t s = 0; s < capacity; ++s) start[s] -= count[s];
  *params = P;
}

void knn_query_cpu(const float* ref, const GridView& grid, const float* query, int64_t n_query, int k,
                   int32_t* out_idx, float* out_d2) {
  LESEG_KCHECK(k >= 1, "knn: k must be >= 1, got ", k);
  cpu::for_each(n_query, [&](int64_t q) {
    nbr::knn_one(ref, grid, query + 3 * q, k, out_idx + q * int64_t(k), out_d2 + q * int64_t(k));
  }, 256);
}

void radius_count_cpu(const float* ref, const GridView& grid, const float* query, int64_t n_query,
                      float radius, int32_t* counts) {
  LESEG_KCHECK(radius >= 0.f, "radius search: radius must be >= 0, got ", radius);
  cpu::for_each(n_query, [&](int64_t q) { counts[q] = nbr::radius_count_one(ref, grid, query + 3 * q, radius); },
                256);
}

void radius_fill_cpu(const float* ref, const GridView& grid, const float* query, int64_t n_query, float radius,
                     const int64_t* offsets, int32_t* out_idx, float* out_d2) {
  cpu::for_each(n_query, [&](int64_t q) {
    const int64_t b = offsets[q];
    nbr::radius_fill_one(ref, grid, query + 3 * q, radius, out_idx + b, out_d2 + b, int32_t(offsets[q + 1] - b));
  }, 256);
}

}  // namespace leseg::kernels
