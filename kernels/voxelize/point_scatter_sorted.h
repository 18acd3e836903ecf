// SPDX-License-Identifier: Apache-2.0
// Deterministic point_scatter on CUDA (engine/determinism.h): gx (m, C) = Σ_{(i, c): idx[i, c] = j} w[i, c]·g[i]
// without float atomics. A stable radix sort of the entries e = i·corners + c by their voxel, the run starts by
// binary search, then one thread per (voxel, channel) adding its run in increasing e — point_scatter_cpu's order
// and rounding (point_scatter_sorted_math.h), so the result equals the CPU twin bit for bit and repeats are
// identical. Entries with idx < 0 or idx >= m are skipped. n·corners must be < 2^31 and m < 2^31.
// The default point_scatter_cuda (one float atomicAdd per entry and channel) stays the non-deterministic path.
// point_scatter_lowp_sorted_cuda: the same schedule for half features (f16/bf16) with f32 weights, f32 accumulation
// and one rounding at the store: point_scatter_lowp_cpu's bits (the default point_scatter_lowp_cuda adds with float
// atomics into an f32 workspace). Same workspace size.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/voxelize/point_scatter_sorted_math.h"

namespace leseg::kernels {

size_t point_scatter_sorted_workspace_bytes(int64_t n, int corners, int64_t m);
template <class T>
void point_scatter_sorted_cuda(const T* g, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C,
                               int64_t m, T* gx, void* ws, size_t ws_bytes, StreamHandle s);
template <class T>
void point_scatter_lowp_sorted_cuda(const T* g, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C,
                                    int64_t m, T* gx, void* ws, size_t ws_bytes, StreamHandle s);

}  // namespace leseg::kernels
