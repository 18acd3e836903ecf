// SPDX-License-Identifier: Apache-2.0
// CPU twin of the kernel-map build: hash queries per (offset, output), then per-offset compaction.
#include <algorithm>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/kernel_map/kernel_map.h"

namespace leseg::kernels {

void kernel_map_neighbors_cpu(const coord::TableView& t, const int32_t* out_coords, int64_t n_out,
                              const KernelGeometry& g, int32_t* nbr) {
  LESEG_KCHECK(g.kernel_size >= 1 && g.kernel_size <= 5, "kernel_map: kernel size ", g.kernel_size, " not in 1..5");
  LESEG_KCHECK(g.dilation >= 1 && g.dilation <= 3, "kernel_map: dilation ", g.dilation, " not in 1..3");
  LESEG_KCHECK(g.tensor_stride >= 1, "kernel_map: tensor stride ", g.tensor_stride, " must be >= 1");
  const int64_t V = g.volume();
  cpu::for_each(
      n_out, [&](int64_t j) {
        const int32_t* c = out_coords + 4 * j;
        for (int64_t k = 0; k < V; ++k) {
          int32_t dx, dy, dz;
          kmap::kernel_offset(k, g.kernel_size, g.dilation, g.tensor_stride, dx, dy, dz);
          nbr[k * n_out + j] = coord::table_find(t, c[0], c[1] + dx, c[2] + dy, c[3] + dz);
        }
      },
      1 << 10);
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
