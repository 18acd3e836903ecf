// SPDX-License-Identifier: Apache-2.0
// kernel_map: for each kernel offset k, the list of (in_idx, out_idx) pairs with
// coord_in = coord_out + offset(k) (offset order and anchors: kernel_map_math.h).
// defines: kernel_map_neighbors_{cpu,cuda}, kernel_map_count_{cpu,cuda}, kernel_map_fill_{cpu,cuda},
//          kernel_map_invert_{cpu,cuda}, downsample_coords_{cpu,cuda}
//
// Build = three steps (the caller allocates between them; nothing is allocated here):
//   neighbors: nbr (V, n_out) i32, V = K^3: nbr[k * n_out + j] = input id at out_coords[j] + offset(k) or -1
//              (the table holds the input coordinates). This matrix is also the output-stationary map used by
//              the fused CUDA conv.
//   count:     offsets (V + 1,) i64 on the host: pairs of offset k are [offsets[k], offsets[k+1])
//   fill:      in_idx (P,), out_idx (P,) i32; within an offset, pairs are ordered by out_idx (CPU == CUDA).
// Within one offset every out_idx and every in_idx appears at most once (p + offset(k) is one coordinate and
// the output lattice is a set), which is what makes per-offset scatter free of races and atomics.
// invert: nbr_t (V, n_in): nbr_t[k * n_in + i] = out_idx of the pair (i, ·, k) or -1 (input-stationary map).
// downsample_coords: out (n, 4) = (b, floor(x / s2) * s2, ...) for stride s2 = 2 * tensor_stride; the caller
// then uniquifies it with coord_hash (first-occurrence order).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/coord_hash/coord_hash_math.h"
#include "kernels/kernel_map/kernel_map_math.h"

namespace leseg::kernels {

struct KernelGeometry {
  int kernel_size = 3;         // K (1..5)
  int dilation = 1;            // 1..3
  int32_t tensor_stride = 1;   // stride of the INPUT coordinates
  int64_t volume() const { return int64_t(kernel_size) * kernel_size * kernel_size; }
};

// same_set: the output coordinates are the table's own, row j = id j (a submanifold map). For odd K only half the
// offsets are probed and the other half written as mirrors (offset V-1-k = -offset(k)); same result. Checked: a
// centre offset that does not map every row to itself is an error.
void kernel_map_neighbors_cpu(const coord::TableView& in_table, const int32_t* out_coords, int64_t n_out,
                              const KernelGeometry& g, int32_t* nbr, bool same_set = false);
void kernel_map_count_cpu(const int32_t* nbr, int64_t n_out, int64_t volume, int64_t* offsets_host);
void kernel_map_fill_cpu(const int32_t* nbr, int64_t n_out, int64_t volume, const int64_t* offsets_host,
                         int32_t* in_idx, int32_t* out_idx);
void kernel_map_invert_cpu(const int32_t* in_idx, const int32_t* out_idx, const int64_t* offsets_host,
                           int64_t volume, int64_t n_in, int32_t* nbr_t);
void downsample_coords_cpu(const int32_t* coords, int64_t n, int32_t out_stride, int32_t* out);

void kernel_map_neighbors_cuda(const coord::TableView& in_table, const int32_t* out_coords, int64_t n_out,
                               const KernelGeometry& g, int32_t* nbr, StreamHandle s);
// workspace: kernel_map_count_cuda_workspace_bytes(volume) bytes of device memory; synchronises.
size_t kernel_map_count_cuda_workspace_bytes(int64_t volume);
void kernel_map_count_cuda(const int32_t* nbr, int64_t n_out, int64_t volume, int64_t* offsets_host,
                           void* workspace, StreamHandle s);
size_t kernel_map_fill_cuda_workspace_bytes(int64_t n_out);
void kernel_map_fill_cuda(const int32_t* nbr, int64_t n_out, int64_t volume, const int64_t* offsets_host,
                          int32_t* in_idx, int32_t* out_idx, void* workspace, size_t workspace_bytes,
                          StreamHandle s);
void kernel_map_invert_cuda(const int32_t* in_idx, const int32_t* out_idx, const int64_t* offsets_host,
                            int64_t volume, int64_t n_in, int32_t* nbr_t, StreamHandle s);
void downsample_coords_cuda(const int32_t* coords, int64_t n, int32_t out_stride, int32_t* out, StreamHandle s);

}  // namespace leseg::kernels
