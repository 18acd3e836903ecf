// SPDX-License-Identifier: Apache-2.0
// CPU twin of the kernel-map build: hash queries per (offset, output), then per-offset compaction.
#include <algorithm>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/kernel_map/kernel_map.h"

namespace leseg::kernels {

namespace {

constexpr int64_t kNbrBlock = 8;  // outputs whose probes are issued together (slots computed and prefetched first)

// nbr[k * n_out + j] for k in [0, kn) and j in [j0, j1). The probes of kNbrBlock outputs are computed and their
// first slots prefetched before any is resolved: ~kNbrBlock * kn independent cache misses in flight instead of one
// at a time (each probe's first slot is a random line of a table far larger than L2).
void neighbors_rows(const coord::TableView& t, const int32_t* out_coords, int64_t n_out, const int32_t* off, int64_t kn,
                    int64_t j0, int64_t j1, int32_t* nbr) {
  uint64_t key[kNbrBlock * 125];
  int64_t slot[kNbrBlock * 125];  // begin + first slot, or -1 (no probe: out of range / empty region)
  for (int64_t jb = j0; jb < j1; jb += kNbrBlock) {
    const int64_t je = std::min(j1, jb + kNbrBlock);
    for (int64_t j = jb; j < je; ++j) {
      const int32_t* c = out_coords + 4 * j;
      const int32_t b = c[0];
      const bool batch_ok = b >= 0 && int64_t(b) < t.num_batches;
      const int64_t begin = batch_ok ? t.region[2 * b] : 0, cap = batch_ok ? t.region[2 * b + 1] : 0;
      for (int64_t k = 0; k < kn; ++k) {
        const int64_t e = (j - jb) * kn + k;
        const int32_t x = c[1] + off[3 * k], y = c[2] + off[3 * k + 1], z = c[3] + off[3 * k + 2];
        if (cap == 0 || !coord::xyz_in_range(x, y, z)) {
          slot[e] = -1;
          continue;
        }
        key[e] = coord::pack_xyz(x, y, z);
        slot[e] = begin + int64_t(coord::hash64(key[e]) & uint64_t(cap - 1));
        __builtin_prefetch(t.keys + slot[e]);
      }
    }
    for (int64_t j = jb; j < je; ++j) {
      const int32_t b = out_coords[4 * j];
      const bool batch_ok = b >= 0 && int64_t(b) < t.num_batches;
      const int64_t begin = batch_ok ? t.region[2 * b] : 0, cap = batch_ok ? t.region[2 * b + 1] : 0;
      for (int64_t k = 0; k < kn; ++k) {
        const int64_t e = (j - jb) * kn + k;
        int32_t found = -1;
        if (slot[e] >= 0) {  // linear probing inside the batch's region, as coord::table_find
          int64_t s = slot[e] - begin;
          for (int64_t probe = 0; probe < cap; ++probe) {
            const uint64_t kk = t.keys[begin + s];
            if (kk == key[e]) {
              found = t.vals[begin + s];
              break;
            }
            if (kk == coord::kEmptyKey) break;
            s = (s + 1) & (cap - 1);
          }
        }
        nbr[k * n_out + j] = found;
      }
    }
  }
}

}  // namespace

void kernel_map_neighbors_cpu(const coord::TableView& t, const int32_t* out_coords, int64_t n_out,
                              const KernelGeometry& g, int32_t* nbr, bool same_set) {
  LESEG_KCHECK(g.kernel_size >= 1 && g.kernel_size <= 5, "kernel_map: kernel size ", g.kernel_size, " not in 1..5");
  LESEG_KCHECK(g.dilation >= 1 && g.dilation <= 3, "kernel_map: dilation ", g.dilation, " not in 1..3");
  LESEG_KCHECK(g.tensor_stride >= 1, "kernel_map: tensor stride ", g.tensor_stride, " must be >= 1");
  const int64_t V = g.volume();
  int32_t off[3 * 125];
  for (int64_t k = 0; k < V; ++k)
    kmap::kernel_offset(k, g.kernel_size, g.dilation, g.tensor_stride, off[3 * k], off[3 * k + 1], off[3 * k + 2]);
  // Same set, odd K: offset V-1-k is offset k negated, so nbr[k][j] = i <=> nbr[V-1-k][i] = j. Probe the offsets
  // up to the centre (c = (V-1)/2, which must map every row to itself: the precondition, checked), then write each
  // mirror row by one pass over its partner: (V+1)/2 of the V probes. The result is the full search's, bit for bit.
  const bool mirror = same_set && g.kernel_size % 2 == 1 && V > 1;
  const int64_t kn = mirror ? (V + 1) / 2 : V;
  constexpr int64_t kRowsPerTask = 1024;
  const int64_t tasks = (n_out + kRowsPerTask - 1) / kRowsPerTask;
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1)
  for (int64_t task = 0; task < tasks; ++task)
    neighbors_rows(t, out_coords, n_out, off, kn, task * kRowsPerTask, std::min(n_out, (task + 1) * kRowsPerTask), nbr);
  if (!mirror) return;
  const int64_t c = (V - 1) / 2;
  const int32_t* centre = nbr + c * n_out;
  int64_t bad = -1;
  for (int64_t j = 0; j < n_out && bad < 0; ++j)
    if (centre[j] != int32_t(j)) bad = j;
  LESEG_KCHECK(bad < 0, "kernel_map: same_set asked for, but output row ", bad, " maps to input id ",
               bad < 0 ? 0 : centre[bad], " at the centre offset (the output coordinates must be the table's own, "
               "in id order)");
#pragma omp parallel for schedule(dynamic, 1) if (c * n_out > (1 << 15))
  for (int64_t k = 0; k < c; ++k) {
    const int32_t* src = nbr + k * n_out;
    int32_t* dst = nbr + (V - 1 - k) * n_out;
    std::fill(dst, dst + n_out, -1);
    for (int64_t j = 0; j < n_out; ++j)
      if (src[j] >= 0) dst[src[j]] = int32_t(j);
  }
}

// One parallel region for all offsets (was one per offset: 27 fork/joins for K = 3, each waiting for descheduled
// threads on a busy machine); each offset's row is counted by one thread, the prefix sum is serial: exact.
void kernel_map_count_cpu(const int32_t* nbr, int64_t n_out, int64_t volume, int64_t* offsets) {
  offsets[0] = 0;
#pragma omp parallel for schedule(dynamic, 1) if (volume * n_out > (1 << 15))
  for (int64_t k = 0; k < volume; ++k) {
    const int32_t* row = nbr + k * n_out;
    int64_t c = 0;
    for (int64_t j = 0; j < n_out; ++j) c += row[j] >= 0;
    offsets[k + 1] = c;
  }
  for (int64_t k = 0; k < volume; ++k) offsets[k + 1] += offsets[k];
}

void kernel_map_fill_cpu(const int32_t* nbr, int64_t n_out, int64_t volume, const int64_t* offsets,
                         int32_t* in_idx, int32_t* out_idx) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t k = 0; k < volume; ++k) {
    const int32_t* row = nbr + k * n_out;
    int64_t p = offsets[k];
    for (int64_t j = 0; j < n_out; ++j)
      if (row[j] >= 0) {
        in_idx[p] = row[j];
        out_idx[p] = int32_t(j);
        ++p;
      }
  }
}

void kernel_map_invert_cpu(const int32_t* in_idx, const int32_t* out_idx, const int64_t* offsets, int64_t volume,
                           int64_t n_in, int32_t* nbr_t) {
  // offset k writes only row k of nbr_t: offsets in parallel, race-free
#pragma omp parallel for schedule(dynamic, 1) if (volume * n_in > (1 << 15))
  for (int64_t k = 0; k < volume; ++k) {
    int32_t* row = nbr_t + k * n_in;
    std::fill(row, row + n_in, -1);
    for (int64_t p = offsets[k]; p < offsets[k + 1]; ++p) row[in_idx[p]] = out_idx[p];
  }
}

void downsample_coords_cpu(const int32_t* coords, int64_t n, int32_t out_stride, int32_t* out) {
  LESEG_KCHECK(out_stride >= 1, "downsample_coords: stride ", out_stride);
  cpu::for_each(n, [&](int64_t i) {
    out[4 * i] = coords[4 * i];
    for (int d = 1; d < 4; ++d) out[4 * i + d] = kmap::downsample(coords[4 * i + d], out_stride);
  });
}

}  // namespace leseg::kernels
