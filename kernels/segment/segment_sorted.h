// SPDX-License-Identifier: Apache-2.0
// Deterministic segment sum / mean on CUDA (engine/determinism.h): a stable radix sort of (group, position), the run
// starts by binary search, and one thread per (group, channel) summing its run in double in increasing position —
// the CPU twin's order (segment_sum_cpu / segment_mean_cpu are the spec), so the result equals the CPU twin's bit for
// bit and repeats are identical; no float atomics. Group ids >= G are recorded in the device error slot like the
// atomic variant; negative ids are skipped. Index math: segment_sorted_math.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/segment/segment_sorted_math.h"

namespace leseg::kernels {

size_t segment_sorted_cuda_workspace_bytes(int64_t N, int64_t G);
template <class T>
void segment_sum_sorted_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, void* ws,
                             size_t ws_bytes, StreamHandle s);
// The CSR of a grouping, built on the device with no host read: *order (N) = the element positions sorted stably by
// group, *row_ptr (G + 1) = each group's start in *order (row_ptr[G] = the number of valid elements); ids outside
// [0, G) are left out (an id >= G is recorded in the error slot as SegmentGroup unless an earlier check recorded
// its own error first). The same arrays as a stable counting sort on the host (index_add's deterministic path used
// one). Both arrays live in `ws` (segment_sorted_cuda_workspace_bytes(N, G) bytes): valid while it is.
void segment_csr_cuda(const int64_t* group, int64_t N, int64_t G, void* ws, size_t ws_bytes, const int64_t** order,
                      const int64_t** row_ptr, StreamHandle s);
// count (G,) written (elements per group).
template <class T>
void segment_mean_sorted_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out,
                              int64_t* count, void* ws, size_t ws_bytes, StreamHandle s);

}  // namespace leseg::kernels
