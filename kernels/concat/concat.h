// SPDX-License-Identifier: Apache-2.0
// copy_rows: strided block copy, the one kernel behind concat and split (forward and backward).
//   dst[o * dst_row + dst_offset + j] = src[o * src_row + src_offset + j]   for o < outer, j < width
// concat(x_0..x_k, dim): for each input, outer = prod(shape[:dim]), width = size_i * inner,
//   src_row = width, dst_row = (Σ size_i) * inner, dst_offset = (Σ_{j<i} size_j) * inner.
// split is the same copy with src and dst exchanged. Gradients: concat's is split and vice versa.
// defines: copy_rows_cpu, copy_rows_cuda      T: every storage type
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
struct CopyRows {
  int64_t outer = 0, width = 0;
  int64_t src_row = 0, src_offset = 0;
  int64_t dst_row = 0, dst_offset = 0;
};
template <class T> void copy_rows_cpu(const T* src, T* dst, const CopyRows& p);
template <class T> void copy_rows_cuda(const T* src, T* dst, const CopyRows& p, StreamHandle stream);
}  // namespace leseg::kernels
