// SPDX-License-Identifier: Apache-2.0
// voxelize: points -> voxel coordinates, per-point weights into voxels, and the weighted gather / scatter
// pair every voxel<->point transfer is made of. defines (each _cpu and _cuda):
//   voxel_coords:        coords (n, 4) i32 = (batch, floor(p * inv_size)); error on a value outside
//                        [-2^20, 2^20-1] (names the point and value)
//   voxel_counts:        counts (m,) i32 = points per voxel from inverse (n,)
//   mean_weights:        w (n,) = 1 / counts[inverse[i]]
//   trilinear_weights:   idx (n, 8) i32 voxel rows of the corners (-1 absent), w (n, 8) normalised weights
//                        (absent corners 0, others divided by the sum of present weights; all absent -> 0)
//   point_gather:        out (n, C) = sum_c w[i, c] * x[idx[i, c]]             (w null -> 1; idx -1 skipped)
//   point_scatter:       gx (m, C) = sum_{(i, c): idx[i, c] = j} w[i, c] * g[i]   (the adjoint of point_gather)
// Gradient: d out / d x = point_scatter with the same (idx, w); voxel mean = point_scatter with w = 1/count.
// point_scatter: CPU sequential over points (deterministic), CUDA float atomicAdd (order not fixed); the
// deterministic CUDA variant (sorted runs, the twin's bits) is point_scatter_sorted.h.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/coord_hash/coord_hash_math.h"

namespace leseg::kernels {

template <class T>
void voxel_coords_cpu(const T* points, const int32_t* batch, int64_t n, double inv_size, int32_t* coords);
void voxel_counts_cpu(const int32_t* inverse, int64_t n, int64_t m, int32_t* counts);
template <class T>
void mean_weights_cpu(const int32_t* inverse, const int32_t* counts, int64_t n, T* w);
template <class T>
void trilinear_weights_cpu(const coord::TableView& t, const T* points, const int32_t* batch, int64_t n,
                           double inv_size, int32_t stride, int32_t* idx, T* w);
template <class T>
void point_gather_cpu(const T* x, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, T* out);
template <class T>
void point_scatter_cpu(const T* g, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, int64_t m, T* gx);

// Half features (T = f16_t / bf16_t) with f32 weights (the points stay f32 under autocast): f32 accumulation, one
// rounding at the store.
//   point_gather_lowp:   as point_gather; per output element an fmaf chain over the corners in order: CPU == CUDA
//                        bits.
//   point_scatter_lowp:  as point_scatter into the f32 workspace acc (m, C), then gx = round(acc). CPU sequential
//                        over points; CUDA float atomicAdd of the rounded products (order not fixed: equal to the
//                        twin up to f32 summation order before the one rounding).
template <class T>
void point_gather_lowp_cpu(const T* x, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C, T* out);
template <class T>
void point_scatter_lowp_cpu(const T* g, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C,
                            int64_t m, float* acc, T* gx);
template <class T>
void point_gather_lowp_cuda(const T* x, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C, T* out,
                            StreamHandle s);
template <class T>
void point_scatter_lowp_cuda(const T* g, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C,
                             int64_t m, float* acc, T* gx, StreamHandle s);

template <class T>
void voxel_coords_cuda(const T* points, const int32_t* batch, int64_t n, double inv_size, int32_t* coords,
                       StreamHandle s);
void voxel_counts_cuda(const int32_t* inverse, int64_t n, int64_t m, int32_t* counts, StreamHandle s);
template <class T>
void mean_weights_cuda(const int32_t* inverse, const int32_t* counts, int64_t n, T* w, StreamHandle s);
template <class T>
void trilinear_weights_cuda(const coord::TableView& t, const T* points, const int32_t* batch, int64_t n,
                            double inv_size, int32_t stride, int32_t* idx, T* w, StreamHandle s);
template <class T>
void point_gather_cuda(const T* x, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, T* out,
                       StreamHandle s);
template <class T>
void point_scatter_cuda(const T* g, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, int64_t m,
                        T* gx, StreamHandle s);

}  // namespace leseg::kernels
