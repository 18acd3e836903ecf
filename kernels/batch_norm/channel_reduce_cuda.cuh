// SPDX-License-Identifier: Apache-2.0
// Per-channel sums over an (N, C, L) layout on CUDA, the twin of channel_reduce_cpu.h: double
// accumulation, no atomics, deterministic. Pass 1: grid (channel tiles, splits) writes partial sums
// per split into the caller's workspace; pass 2 adds the splits in order. The split count depends on
// N·L only. Workspace: channel_reduce_workspace_bytes(N, C, L).
//   s0[c] = Σ_{n,l} f(n, c, l).a      s1[c] = Σ_{n,l} f(n, c, l).b      (s0, s1: device doubles)
#pragma once
#include <cstdint>

#include "kernels/batch_norm/channel_reduce_cuda_bytes.h"
#include "kernels/common/cuda_utils.cuh"

namespace leseg::kernels::cuda {

struct Sum2d {
  double a, b;
};

inline int64_t channel_reduce_splits(int64_t N, int64_t L) { return channel_reduce_splits_host(N, L); }

// L == 1: block (32, 8) covers 32 consecutive channels (coalesced), rows strided over y and splits.
template <class F>
__global__ void channel_partial_rows(int64_t N, int64_t C, F f, double* part) {
  __shared__ double sa[8][33], sb[8][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  double a = 0, b = 0;
  if (c < C)
    for (int64_t n = int64_t(blockIdx.y) * 8 + threadIdx.y; n < N; n += int64_t(gridDim.y) * 8) {
      Sum2d v = f(n, c, int64_t(0));
      a += v.a;
      b += v.b;
    }
  sa[threadIdx.y][threadIdx.x] = a;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < 8; ++y) {
      a += sa[y][threadIdx.x];
      b += sb[y][threadIdx.x];
    }
    part[(int64_t(blockIdx.y) * C + c) * 2] = a;
    part[(int64_t(blockIdx.y) * C + c) * 2 + 1] = b;
  }
}

// L > 1: one block of 256 threads per (channel, split), threads over the flattened (n, l) rows.
template <class F>
__global__ void channel_partial_planes(int64_t N, int64_t C, int64_t L, F f, double* part) {
  __shared__ double sa[256], sb[256];
  const int64_t c = blockIdx.x;
  const int64_t rows = N * L;
  double a = 0, b = 0;
  for (int64_t r = int64_t(blockIdx.y) * 256 + threadIdx.x; r < rows; r += int64_t(gridDim.y) * 256) {
    Sum2d v = f(r / L, c, r % L);
    a += v.a;
    b += v.b;
  }
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  __syncthreads();
  for (int s = 128; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      sa[threadIdx.x] += sa[threadIdx.x + s];
      sb[threadIdx.x] += sb[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    part[(int64_t(blockIdx.y) * C + c) * 2] = sa[0];
    part[(int64_t(blockIdx.y) * C + c) * 2 + 1] = sb[0];
  }
}

template <class F>
void channel_reduce2(int64_t N, int64_t C, int64_t L, F f, double* s0, double* s1, void* workspace,
                     StreamHandle stream, const char* name) {
  if (C == 0) return;
  NvtxRange range(name);
  const int64_t splits = channel_reduce_splits(N, L);
  double* part = static_cast<double*>(workspace);
  cudaStream_t st = stream_of(stream);
  if (N * L == 0) {
    LESEG_CUDA_CHECK(cudaMemsetAsync(part, 0, size_t(splits * C * 2) * sizeof(double), st));
  } else if (L == 1) {
    dim3 grid(unsigned((C + 31) / 32), unsigned(splits));
    channel_partial_rows<<<grid, dim3(32, 8), 0, st>>>(N, C, f, part);
  } else {
    channel_partial_planes<<<dim3(unsigned(C), unsigned(splits)), 256, 0, st>>>(N, C, L, f, part);
  }
  LESEG_CUDA_CHECK_LAUNCH(name);
  for_each(
      C,
      [=] __device__(int64_t c) {
        double a = 0, b = 0;
        for (int64_t k = 0; k < splits; ++k) {
          a += part[(k * C + c) * 2];
          b += part[(k * C + c) * 2 + 1];
        }
        s0[c] = a;
        if (s1) s1[c] = b;
      },
      stream, name);
}

}  // namespace leseg::kernels::cuda
