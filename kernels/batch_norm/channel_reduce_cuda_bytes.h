// SPDX-License-Identifier: Apache-2.0
// Host-side size of the CUDA channel-reduction workspace (same formula as channel_reduce_cuda.cuh, which
// includes this header), so workspace queries compile in CPU-only builds too.
#pragma once
#include <cstddef>
#include <cstdint>

namespace leseg::kernels {
inline int64_t channel_reduce_splits_host(int64_t N, int64_t L) {
  int64_t s = (N * L + 4095) / 4096;
  return s < 1 ? 1 : (s > 256 ? 256 : s);
}
inline size_t channel_reduce_workspace_bytes_host(int64_t N, int64_t C, int64_t L) {
  return size_t(channel_reduce_splits_host(N, L)) * size_t(C) * 2 * sizeof(double);
}
}  // namespace leseg::kernels
