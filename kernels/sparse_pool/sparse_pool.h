// SPDX-License-Identifier: Apache-2.0
// sparse_pool: global average / max pooling per batch element over the active sites.
// defines: global_{avg,max}_pool_{forward,backward}_{cpu,cuda}
//   x (n, C), batch b(i) = coords[4 i] in [0, B); y (B, C).
//   avg: y[b] = sum_{b(i)=b} x[i] / count_b (count 0 -> 0)     gx[i] = gy[b(i)] / count_b(i)
//   max: y[b] = x[argmax[b]] (first maximal row; none -> 0, argmax -1)   gx[argmax[b, c], c] = gy[b, c]
// One (b, c) pair per task, rows scanned in order with double accumulation: deterministic, CPU == CUDA order.
// Cost O(B * n * C): meant for the bottleneck of a network (small n), not for the full-resolution input.
// Also here: column_concat / column_split (skip-connection concat of feature matrices with equal rows):
//   out (n, ca + cb) = [a | b];  split: ga = g[:, :ca], gb = g[:, ca:] (its adjoint).
// Types: float, double, f16_t, bf16_t. Half inputs are widened exactly, the average accumulates in double and is
// rounded once at the store (avg backward: f32 division, one rounding); max, concat and split copy bits. CPU and
// CUDA give the same bits for every type.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

template <class T>
void global_avg_pool_forward_cpu(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y);
template <class T>
void global_avg_pool_backward_cpu(const T* gy, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* gx);
template <class T>
void global_max_pool_forward_cpu(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y,
                                 int32_t* argmax);
template <class T>
void global_max_pool_backward_cpu(const T* gy, const int32_t* argmax, int64_t n, int64_t C, int64_t B, T* gx);

template <class T>
void column_concat_cpu(const T* a, const T* b, int64_t n, int64_t ca, int64_t cb, T* out);
template <class T>
void column_split_cpu(const T* g, int64_t n, int64_t ca, int64_t cb, T* ga, T* gb);
template <class T>
void column_concat_cuda(const T* a, const T* b, int64_t n, int64_t ca, int64_t cb, T* out, StreamHandle s);
template <class T>
void column_split_cuda(const T* g, int64_t n, int64_t ca, int64_t cb, T* ga, T* gb, StreamHandle s);

template <class T>
void global_avg_pool_forward_cuda(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y,
                                  StreamHandle s);
template <class T>
void global_avg_pool_backward_cuda(const T* gy, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* gx,
                                   StreamHandle s);
template <class T>
void global_max_pool_forward_cuda(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y,
                                  int32_t* argmax, StreamHandle s);
template <class T>
void global_max_pool_backward_cuda(const T* gy, const int32_t* argmax, int64_t n, int64_t C, int64_t B, T* gx,
                                   StreamHandle s);

}  // namespace leseg::kernels
