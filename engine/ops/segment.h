// SPDX-License-Identifier: Apache-2.0
// Segment reductions and scatter voting over groups (issue 4): geometric segments (HICL intra-set
// refinement) and SAM masks (CNS). group (N,) i64 in [0, G); a negative id = "in no group" (skipped).
// Kernels and variants: kernels/segment/segment.h.
#pragma once
#include <optional>

#include "engine/tensor.h"
#include "kernels/segment/segment.h"

namespace leseg {

using kernels::VoteVariant;

// Arbitrary int64 ids → compact ids 0..G-1 (in increasing id order) and the inverse (unique ids).
// On CUDA: sort + unique + binary search on the device, then one synchronisation to read G.
struct CompactIds {
  Tensor compact;  // (N,) i64 on the ids' device
  Tensor unique;   // (G,) i64 sorted distinct ids
  int64_t num_groups = 0;
};
CompactIds compact_ids(const Tensor& ids);

// x (N, C) or (N,) → (G, C) or (G,). Differentiable in x. Empty groups give 0.
Tensor segment_sum(const Tensor& x, const Tensor& group, int64_t G);
Tensor segment_mean(const Tensor& x, const Tensor& group, int64_t G);
Tensor segment_max(const Tensor& x, const Tensor& group, int64_t G);  // gradient to the first argmax row
// x (G, C) or (G,) → (N, C) or (N,): out_i = x[g_i] (0 for g_i < 0). Backward: segment_sum.
Tensor segment_gather(const Tensor& x, const Tensor& group);

// Mode vote (no gradient): per group the class with the largest (weighted) count, ties → smallest class,
// groups with no valid vote → ignore. labels (N,) i64 with `ignore`; weights (N,) f32 >= 0 or undefined.
// CUDA variant: default SharedHistogram when G·C·8 <= 48 KiB, else SortReduce.
struct VoteResult {
  Tensor group_mode;  // (G,) i64
  Tensor point_mode;  // (N,) i64: group_mode[g_i] (ignore for g_i < 0)
};
VoteResult vote_mode(const Tensor& group, const Tensor& labels, int64_t G, int64_t C, int64_t ignore = -1,
                     const Tensor& weights = Tensor(), std::optional<VoteVariant> variant = std::nullopt);

// Soft vote: every element gets the mean probability of its group, probs (N, C) → (N, C). Differentiable.
Tensor soft_vote(const Tensor& probs, const Tensor& group, int64_t G);

}  // namespace leseg
