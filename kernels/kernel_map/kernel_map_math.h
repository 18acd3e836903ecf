// SPDX-License-Identifier: Apache-2.0
// Kernel offsets and down-sampled coordinates, shared by CPU and CUDA.
//
// Offset order (documented contract of the weight layout (K^3, C_in, C_out)): kernel index
//   k = ix + K * (iy + K * iz)            (x fastest, z slowest), ix, iy, iz in [0, K)
// Offset along an axis for index i (MinkowskiEngine anchor convention):
//   odd K : (i - (K-1)/2) * dilation * tensor_stride   -> centred, e.g. K=3: -s, 0, +s
//   even K: i * dilation * tensor_stride               -> anchored at the output voxel, e.g. K=2: 0, +s
// A map pair (in, out, k) means: input coordinate = output coordinate + offset(k), i.e.
//   out[p] = sum_k W[k]^T x[p + offset(k)]   (cross-correlation, like a dense Conv3d with padding).
// Strided (stride 2) output coordinates: floor(c / (2 s)) * (2 s) per axis (batch kept), unique in order of
// first occurrence; the offsets then use the INPUT tensor stride s.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/coord_hash/coord_hash_math.h"

namespace leseg::kernels::kmap {

LESEG_HD int32_t axis_offset(int i, int K, int dilation, int32_t tensor_stride) {
  const int base = (K % 2 == 1) ? i - (K - 1) / 2 : i;
  return int32_t(base) * dilation * tensor_stride;
}
LESEG_HD void kernel_offset(int64_t k, int K, int dilation, int32_t tensor_stride, int32_t& dx, int32_t& dy,
                            int32_t& dz) {
  const int ix = int(k % K), iy = int((k / K) % K), iz = int(k / (int64_t(K) * K));
  dx = axis_offset(ix, K, dilation, tensor_stride);
  dy = axis_offset(iy, K, dilation, tensor_stride);
  dz = axis_offset(iz, K, dilation, tensor_stride);
}
LESEG_HD int32_t downsample(int32_t c, int32_t out_stride) { return coord::floor_div(c, out_stride) * out_stride; }

}  // namespace leseg::kernels::kmap
