// SPDX-License-Identifier: Apache-2.0
// Index arithmetic of permute, shared by the CPU twin and the CUDA kernel.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

constexpr int kPermuteMaxDims = 6;

struct PermuteParams {
  int ndim = 0;
  int64_t numel = 0;
  int64_t out_shape[kPermuteMaxDims] = {};
  int64_t in_stride[kPermuteMaxDims] = {};  // stride in x (elements) of the input dim that output dim i reads
};

// Offset in x of output element `o` (row-major over out_shape).
LESEG_HD int64_t permute_source_offset(const PermuteParams& p, int64_t o) {
  int64_t src = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const int64_t size = p.out_shape[d];
    const int64_t i = o % size;
    o /= size;
    src += i * p.in_stride[d];
  }
  return src;
}

}  // namespace leseg::kernels
