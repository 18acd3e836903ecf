// SPDX-License-Identifier: Apache-2.0
// Reductions over the middle axis of a (outer, r, inner) view.   defines: reduce_forward_{cpu,cuda},
// reduce_workspace_bytes_cuda, reduce_index_backward_{cpu,cuda}.   T: float, double.
//
// reduce_forward   x (outer, r, inner) -> out (outer, inner)
//   sum:  Σ_k x[o,k,i]           mean: sum / r (NaN when r == 0)
//   max/min: value and (idx != null) the index k in [0, r) of the first extreme (NaN propagates); r >= 1.
//   var:  Σ_k (x - mean)² / (r - correction)   (two passes: mean, then squared deviations).
// Accumulation is in double on both devices and the order is fixed by the shape alone: on CPU rows are
// cut into chunks of kReduceChunkCpu summed serially and combined in chunk order (independent of the
// number of threads); on CUDA (inner == 1) each block reduces a chunk of kReduceChunkCuda elements with a
// fixed shared-memory tree, and partials are combined by a second fixed tree: no float atomics, so every
// run gives the same bits. inner > 1 on CUDA: one thread per (o, i), serial over k.
// reduce_index_backward  gx (outer, r, inner) = 0 except gx[o, idx[o,i], i] = g[o,i]  (max/min backward:
//   ∂ max_k x_k / ∂x_j = [j == argmax]).
// Sum and mean backward are broadcasts (engine: broadcast_to); var backward is composed by the engine:
//   ∂var/∂x_k = 2 (x_k - mean) / (r - correction).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

enum class ReduceOp : uint8_t { sum, mean, max, min, var };

struct ReduceDims {
  int64_t outer = 1, r = 1, inner = 1;
};

constexpr int64_t kReduceChunkCpu = 1 << 15;
constexpr int64_t kReduceChunkCuda = 1 << 13;
constexpr int kReduceThreads = 256;

template <class T> void reduce_forward_cpu(ReduceOp op, const T* x, T* out, int64_t* idx, ReduceDims d, int64_t correction);
template <class T> void reduce_index_backward_cpu(const T* g, const int64_t* idx, T* gx, ReduceDims d);

// Bytes of device workspace reduce_forward_cuda needs for (op, d) (0 when none).
size_t reduce_workspace_bytes_cuda(ReduceOp op, ReduceDims d);
template <class T> void reduce_forward_cuda(ReduceOp op, const T* x, T* out, int64_t* idx, ReduceDims d, int64_t correction,
                                            void* workspace, size_t workspace_bytes, StreamHandle s);
template <class T> void reduce_index_backward_cuda(const T* g, const int64_t* idx, T* gx, ReduceDims d, StreamHandle s);

}  // namespace leseg::kernels
