// SPDX-License-Identifier: Apache-2.0
// Shared math of the voxel-hash-grid neighbour search: cell packing, the slot hash, the probe, the
// distance, the sorted insertion and the per-query kNN / radius loops. One definition for CPU and CUDA.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/neighbors/neighbors.h"

namespace leseg::kernels::nbr {

constexpr uint64_t kEmptyKey = ~0ull;
constexpr int32_t kCellRange = 1 << 20;  // packable cell coordinates: (-2^20, 2^20)

LESEG_HD uint64_t pack_cell(int32_t x, int32_t y, int32_t z) {
  return (uint64_t(uint32_t(x + kCellRange)) << 42) | (uint64_t(uint32_t(y + kCellRange)) << 21) |
         uint64_t(uint32_t(z + kCellRange));
}
// splitmix64 finaliser: good avalanche for packed coordinates.
LESEG_HD uint64_t hash_key(uint64_t k) {
  k ^= k >> 30; k *= 0xbf58476d1ce4e5b9ull;
  k ^= k >> 27; k *= 0x94d049bb133111ebull;
  k ^= k >> 31;
  return k;
}
LESEG_HD int32_t cell_of(float p, float cell) { return int32_t(floorf(p / cell)); }

// Slot holding `key`, or -1 when the cell is empty.
LESEG_HD int64_t find_slot(const uint64_t* keys, uint64_t capacity, uint64_t key) {
  uint64_t s = hash_key(key) & (capacity - 1);
  for (uint64_t probe = 0; probe < capacity; ++probe) {
    uint64_t k = keys[s];
    if (k == key) return int64_t(s);
    if (k == kEmptyKey) return -1;
    s = (s + 1) & (capacity - 1);
  }
  return -1;
}

// Squared distance: float differences are exact in double and their squares too (<= 48 bits), so the
// only rounding is the final sums and the cast, identical with or without FMA contraction.
LESEG_HD float dist2(const float* a, const float* b) {
  double dx = double(a[0]) - double(b[0]), dy = double(a[1]) - double(b[1]), dz = double(a[2]) - double(b[2]);
  return float(dx * dx + dy * dy + dz * dz);
}

LESEG_HD bool before(float da, int32_t ia, float db, int32_t ib) { return da < db || (da == db && ia < ib); }

// Insert (d, i) into the sorted list (idx, d2) of current length `len` and capacity k.
LESEG_HD void insert_sorted(int32_t* idx, float* d2, int& len, int k, float d, int32_t i) {
  if (len == k && !before(d, i, d2[k - 1], idx[k - 1])) return;
  int j = len < k ? len++ : k - 1;
  while (j > 0 && before(d, i, d2[j - 1], idx[j - 1])) {
    d2[j] = d2[j - 1];
    idx[j] = idx[j - 1];
    --j;
  }
  d2[j] = d;
  idx[j] = i;
}

// Visit every reference point of cell (x, y, z): f(ref_index).
template <class F>
LESEG_HD void for_cell(const GridView& g, int32_t x, int32_t y, int32_t z, F&& f) {
  const GridParams& P = g.params;
  if (x < P.lo[0] || x > P.hi[0] || y < P.lo[1] || y > P.hi[1] || z < P.lo[2] || z > P.hi[2]) return;
  int64_t s = find_slot(g.keys, g.capacity, pack_cell(x, y, z));
  if (s < 0) return;
  const int64_t b = g.start[s];
  const int32_t c = g.count[s];
  for (int32_t j = 0; j < c; ++j) f(g.sorted_idx[b + j]);
}

// t-th offset of 0, s, -s, 2s, -2s, ... (s = +-1): a ring's coordinates nearest first.
LESEG_HD int32_t ring_offset(int32_t t, int32_t s) { return t == 0 ? 0 : ((t & 1) ? s * ((t + 1) / 2) : -s * (t / 2)); }

// k nearest of one query, written sorted into (idx, d2) rows of length k (padded with -1 / +inf).
LESEG_HD void knn_one(const float* ref, const GridView& g, const float* q, int k, int32_t* idx, float* d2) {
  int len = 0;
  const GridParams& P = g.params;
  const float cell = P.cell;
  const int32_t c[3] = {cell_of(q[0], cell), cell_of(q[1], cell), cell_of(q[2], cell)};
  // Rings outside [rmin, rmax] contain no occupied cell; inside a ring only the part overlapping the
  // occupied box is enumerated (so far queries cost O(r^2) per ring, not O(r^3) in total).
  int32_t rmax = 0, rmin = 0, a0[3], a1[3];
  for (int a = 0; a < 3; ++a) {
    a0[a] = P.lo[a] - c[a];  // occupied offsets along axis a: [a0, a1]
    a1[a] = P.hi[a] - c[a];
    const int32_t e = -a0[a] > a1[a] ? -a0[a] : a1[a];
    if (e > rmax) rmax = e;
    const int32_t g = a0[a] > 0 ? a0[a] : (a1[a] < 0 ? -a1[a] : 0);
    if (g > rmin) rmin = g;
  }
  auto visit = [&](int32_t i) { insert_sorted(idx, d2, len, k, dist2(ref + 3 * int64_t(i), q), i); };
  // A box whose faces are a squared distance b2 away holds no point that would tie with or beat the current k-th
  // (k held): each face is moved out by the rounding of cell_of (floorf(p / cell) puts p within (|m| + 1) 2^-24
  // cells of cell m's exact box; 4x that is allowed), and the point's float distance must come out above d2[k-1]
  // (the relative 2^-22 margin; the absolute one keeps it clear of underflow to 0). Used to skip cells and to stop
  // the rings; the list equals the exhaustive one (tests: brute force, ties, float-rounded faces).
  auto face_slack = [&](int32_t m) { return double(cell) * double((m < 0 ? -m : m) + 1) * (1.0 / 4194304.0); };
  auto beyond_kth = [&](double b2) {  // only called with k candidates held
    return b2 * (1.0 - 1e-9) > double(d2[k - 1]) * (1.0 + 1.0 / 4194304.0) + 1e-37;
  };
  auto cell_far = [&](int32_t dx, int32_t dy, int32_t dz) {
    if (len < k) return false;
    const int32_t o[3] = {dx, dy, dz};
    double b2 = 0;
    for (int a = 0; a < 3; ++a) {
      const int32_t m = c[a] + o[a];
      double gap = 0;
      if (o[a] > 0) gap = double(m) * double(cell) - double(q[a]) - face_slack(m);
      else if (o[a] < 0) gap = double(q[a]) - double(m + 1) * double(cell) - face_slack(m);
      if (gap > 0) b2 += gap * gap;
    }
    return beyond_kth(b2);
  };
  // Side of its own cell q lies nearer to along each axis: -1 (lower half) or +1.
  int32_t side[3];
  for (int a = 0; a < 3; ++a) side[a] = double(q[a]) - double(c[a]) * double(cell) < 0.5 * double(cell) ? -1 : 1;
  const int32_t sx = side[0], sy = side[1], sz = side[2];
  auto consider = [&](int32_t dx, int32_t dy, int32_t dz) {
    if (!cell_far(dx, dy, dz)) for_cell(g, c[0] + dx, c[1] + dy, c[2] + dz, visit);
  };
  for (int32_t r = rmin; r <= rmax; ++r) {
    // Cells at Chebyshev distance exactly r from c, clipped to the occupied box.
    const int32_t x0 = a0[0] > -r ? a0[0] : -r, x1 = a1[0] < r ? a1[0] : r;
    const int32_t y0 = a0[1] > -r ? a0[1] : -r, y1 = a1[1] < r ? a1[1] : r;
    const int32_t z0 = a0[2] > -r ? a0[2] : -r, z1 = a1[2] < r ? a1[2] : r;
    // Offsets run nearest first (0, then alternating, starting on the side of the cell q is nearer to) so that
    // the skip above prunes as many of the farther cells as it can.
    for (int32_t tx = 0; tx <= 2 * r; ++tx) {
      const int32_t dx = ring_offset(tx, sx);
      if (dx < x0 || dx > x1) continue;
      const bool xe = dx == -r || dx == r;
      for (int32_t ty = 0; ty <= 2 * r; ++ty) {
        const int32_t dy = ring_offset(ty, sy);
        if (dy < y0 || dy > y1) continue;
        const bool ye = dy == -r || dy == r;
        if (xe || ye) {
          for (int32_t tz = 0; tz <= 2 * r; ++tz) {
            const int32_t dz = ring_offset(tz, sz);
            if (dz >= z0 && dz <= z1) consider(dx, dy, dz);
          }
        } else {
          const int32_t first = sz < 0 ? -r : r;  // the nearer face first
          if (first >= z0 && first <= z1) consider(dx, dy, first);
          if (r > 0 && -first >= z0 && -first <= z1) consider(dx, dy, -first);
        }
      }
    }
    if (len == k) {
      // Distance from q to the outside of the visited block of cells [c - r, c + r]^3 (faces moved out as above).
      double b = 1e300;
      for (int a = 0; a < 3; ++a) {
        double lo = double(q[a]) - double(c[a] - r) * double(cell) - face_slack(c[a] - r - 1);
        double hi = double(c[a] + r + 1) * double(cell) - double(q[a]) - face_slack(c[a] + r + 1);
        if (lo < b) b = lo;
        if (hi < b) b = hi;
      }
      if (b < 0) b = 0;
      if (beyond_kth(b * b)) break;
    }
  }
  for (int j = len; j < k; ++j) {
    idx[j] = -1;
    d2[j] = INFINITY;
  }
}

// Visit every reference point within the cells that a ball of `radius` around q can touch. The float distance
// test (dist2 <= float(r^2)) accepts points up to r (1 + 2^-24) away, and q +- r rounds in float: the cell range
// is taken for r (1 + 2^-20), so the float sum still lands at or beyond every accepted point (q + r could round
// to a cell short of a point that dist2 accepts; tests search for such faces).
template <class F>
LESEG_HD void for_ball_cells(const GridView& g, const float* q, float radius, F&& f) {
  const float cell = g.params.cell;
  const float rw = radius * (1.f + 1.f / 1048576.f);
  const int32_t x0 = cell_of(q[0] - rw, cell), x1 = cell_of(q[0] + rw, cell);
  const int32_t y0 = cell_of(q[1] - rw, cell), y1 = cell_of(q[1] + rw, cell);
  const int32_t z0 = cell_of(q[2] - rw, cell), z1 = cell_of(q[2] + rw, cell);
  for (int32_t x = x0 > g.params.lo[0] ? x0 : g.params.lo[0]; x <= x1 && x <= g.params.hi[0]; ++x)
    for (int32_t y = y0 > g.params.lo[1] ? y0 : g.params.lo[1]; y <= y1 && y <= g.params.hi[1]; ++y)
      for (int32_t z = z0 > g.params.lo[2] ? z0 : g.params.lo[2]; z <= z1 && z <= g.params.hi[2]; ++z)
        for_cell(g, x, y, z, f);
}

LESEG_HD int32_t radius_count_one(const float* ref, const GridView& g, const float* q, float radius) {
  const float r2 = float(double(radius) * double(radius));
  int32_t n = 0;
  for_ball_cells(g, q, radius, [&](int32_t i) { n += dist2(ref + 3 * int64_t(i), q) <= r2 ? 1 : 0; });
  return n;
}

// Fills exactly radius_count_one(...) entries, sorted by (d2, idx).
LESEG_HD void radius_fill_one(const float* ref, const GridView& g, const float* q, float radius, int32_t* idx,
                              float* d2, int32_t cap) {
  const float r2 = float(double(radius) * double(radius));
  int len = 0;
  for_ball_cells(g, q, radius, [&](int32_t i) {
    float d = dist2(ref + 3 * int64_t(i), q);
    if (d <= r2) insert_sorted(idx, d2, len, cap, d, i);
  });
}

}  // namespace leseg::kernels::nbr
