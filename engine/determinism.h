// SPDX-License-Identifier: Apache-2.0
// Process-wide numeric switches (default off):
//   deterministic: scatter-adds on CUDA (index_select / embedding backward, index_add, scatter_add) use the
//                  sorted CSR path instead of atomics, so repeated runs give identical bits (and the CPU
//                  twin's summation order). Also segment_sum / segment_mean (sorted runs summed in the CPU twin's
//                  order: bit-identical to it, kernels/segment/segment_sorted.h) and vote_mode (the sort-reduce
//                  variant instead of the shared histogram's double atomics), point_scatter (voxel mean,
//                  devoxelize backward: sorted runs in the CPU twin's order, bit-identical to it,
//                  kernels/voxelize/point_scatter_sorted.h) and the fused losses' accumulators (a fixed-order
//                  two-pass reduction, kernels/losses/loss_reduce_math.h). docs/execution.md lists every float
//                  atomic left on the GPU. CPU paths are always deterministic.
// TF32 is no longer a process-wide switch: allow_tf32() is engine/precision.h's per-thread setting
// (train.precision=tf32, set by the trainer with PrecisionScope).
#pragma once
#include "engine/precision.h"

namespace leseg {
void set_deterministic(bool on);
bool deterministic();
}  // namespace leseg
