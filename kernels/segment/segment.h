// SPDX-License-Identifier: Apache-2.0
// Segment reductions and scatter voting over groups (geometric segments, SAM masks).
// defines: segment_count, segment_sum, segment_mean(+_backward), segment_max(+_backward), segment_gather,
//          vote_mode (VoteVariant on CUDA), segment_compact.        T: float, double
// Shapes: x (N, C) rows, group (N,) int64 in [0, G) — a negative group id means "in no group" (skipped;
// its gradient is 0; gather gives 0). Group ids >= G: the CPU twin throws; CUDA skips them and records the first
// in the device error slot (kernels/device_error/device_error.h), which the engine raises as the same error.
// Gradients: sum → ∂/∂x_i = dout[g_i] (gather); mean → dout[g_i] / count[g_i];
//            max → dout[g, c] goes to the first row achieving the max (arg[g, c]); gather → segment_sum.
// Empty groups: sum/mean/max give 0 (max: arg = -1).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

// Voting variants (CUDA):
//   SharedHistogram: per-block class histograms of all G·C bins in shared memory (needs G·C·8 bytes
//                    ≤ kVoteSharedBytes), merged into a global histogram with double atomics.
//   SortReduce:      CUB radix sort of (group·C + class, weight) pairs, reduce-by-key into run sums, packed
//                    atomicMax per group: any G and C.
enum class VoteVariant { SharedHistogram, SortReduce };
constexpr size_t kVoteSharedBytes = 48 * 1024;
inline const char* vote_variant_name(VoteVariant v) { return v == VoteVariant::SharedHistogram ? "shared_histogram" : "sort_reduce"; }

// count (G,) int64: elements per group.
void segment_count_cpu(const int64_t* group, int64_t N, int64_t G, int64_t* count);
// out (G, C) = Σ_{i: g_i = g} x_i; ws: G·C doubles (accumulator).
template <class T>
void segment_sum_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, double* ws, T* out);
// out = sum / count (0 for empty groups); count (G,) written.
template <class T>
void segment_mean_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, double* ws, T* out,
                      int64_t* count);
// dx (N, C) = dout[g_i] / count[g_i].
template <class T>
void segment_mean_backward_cpu(const T* dout, const int64_t* group, const int64_t* count, int64_t N, int64_t C,
                               int64_t G, T* dx);
// out (G, C) max, arg (G, C) first row achieving it (-1 and out 0 for empty groups).
template <class T>
void segment_max_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, int64_t* arg);
// dx (N, C): zero, then dx[arg[g, c], c] = dout[g, c].
template <class T>
void segment_max_backward_cpu(const T* dout, const int64_t* arg, int64_t N, int64_t C, int64_t G, T* dx);
// out (N, C) = x[g_i] (0 when g_i < 0). x (G, C).
template <class T>
void segment_gather_cpu(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out);
// Mode vote. label (N,) with `ignore`; weight (N,) f32 or nullptr (all 1); ws: G·C doubles.
// mode (G,) per group (ignore when no valid vote); point_mode (N,) nullable: mode[g_i] (ignore if g_i < 0).
void vote_mode_cpu(const int64_t* group, const int64_t* label, const float* weight, int64_t N, int64_t G, int64_t C,
                   int64_t ignore, double* ws, int64_t* mode, int64_t* point_mode);
// Compaction of arbitrary ids: unique (G,) sorted distinct ids, compact (N,) = index of id in unique.
// ws: N int64; unique must hold N entries; *G receives the number of distinct ids.
void segment_compact_cpu(const int64_t* ids, int64_t N, int64_t* ws, int64_t* compact, int64_t* unique, int64_t* G);

// CUDA (device pointers, stream argument). Sums use atomics in T (exact for integer/dyadic inputs).
void segment_count_cuda(const int64_t* group, int64_t N, int64_t G, int64_t* count, StreamHandle s);
template <class T>
void segment_sum_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, StreamHandle s);
template <class T>
void segment_mean_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, int64_t* count,
                       StreamHandle s);
template <class T>
void segment_mean_backward_cuda(const T* dout, const int64_t* group, const int64_t* count, int64_t N, int64_t C,
                                int64_t G, T* dx, StreamHandle s);
template <class T>
void segment_max_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, int64_t* arg,
                      StreamHandle s);
template <class T>
void segment_max_backward_cuda(const T* dout, const int64_t* arg, int64_t N, int64_t C, int64_t G, T* dx,
                               StreamHandle s);
template <class T>
void segment_gather_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, StreamHandle s);
// Workspace for vote_mode_cuda (bytes); SharedHistogram requires G·C·8 <= kVoteSharedBytes.
size_t vote_mode_workspace_bytes(VoteVariant v, int64_t N, int64_t G, int64_t C);
void vote_mode_cuda(VoteVariant v, const int64_t* group, const int64_t* label, const float* weight, int64_t N,
                    int64_t G, int64_t C, int64_t ignore, void* ws, size_t ws_bytes, int64_t* mode,
                    int64_t* point_mode, StreamHandle s);

// Compaction on the device: CUB radix sort of the ids, DeviceSelect::Unique, then a binary search per
// element. unique must hold N entries; *num_unique (device) receives G.
size_t segment_compact_workspace_bytes(int64_t N);
void segment_compact_cuda(const int64_t* ids, int64_t N, void* ws, size_t ws_bytes, int64_t* compact, int64_t* unique,
                          int64_t* num_unique, StreamHandle s);

}  // namespace leseg::kernels
