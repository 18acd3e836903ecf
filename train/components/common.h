// SPDX-License-Identifier: Apache-2.0
// Pieces shared by the label-free / label-efficient regimes (CLIP2Scene, HICL, CNS, LASS3D, ERDA):
//   * (text logits z = f·Tᵀ live in models/heads.h: models::TextLogitHead, not repeated here.)
//   * pair labels:   pixel values read at the pixels of (point, pixel) pairs, and the per-point reduction of
//                    pixel pseudo-labels over all views (mode, or the first view that has a label).
//   * compact ids:   arbitrary group ids (SAM mask ids, segment ids) -> 0..G-1, negatives stay -1.
//   * self-training switch (CLIP2Scene [code]): from epoch >= start (0-based, so start = 10 is the 11th
//                    epoch as Lightning's current_epoch counts), with probability p once per batch the target
//                    becomes argmax z (detached). The draw comes from a Generator, so runs are reproducible.
// Labels are i64 with -1 = ignore (leseg's convention). Integer bookkeeping runs on the CPU; results are
// moved to the device of the main input.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "models/spvcnn.h"
#include "train/batch.h"
#include "train/config.h"

namespace leseg::train {

// The values of a tensor in host memory on every build — the batch's host original (Batch::host()) or an index set
// built on the host from it — as i64 (integer dtypes) without counting a host synchronisation
// (engine/host_sync.h, HostMemoryRead). A tensor on a CUDA device is copied and counted as usual. Not for tensors that
// stand for device tensors on a CPU run (network outputs, tensors moved to the regime's device).
std::vector<int64_t> host_i64_values(const Tensor& t);

// SPVCNN on a batch, on `dev`: with the batch's own voxelization (Batch::input / inverse / voxel_counts) when it is
// the one SPVCNN would make (the same voxel size: the loader averages the point features per voxel with the same
// function), so that no coordinate set is made inside the network (its structure is planned and built ahead of the
// step with the batch: train/structure_ahead.h); otherwise SPVCNN voxelizes the points itself.
Tensor spvcnn_forward(models::SPVCNN& net, const Batch& b, Device dev);


// values (H, W) or (H·W,) or (H·W, K); pairs (P, 2) i64 (point index, pixel index) -> rows at the paired
// pixels: (P,) or (P, K). Integer values are gathered on the CPU; float values through index_select
// (differentiable). Error naming the first pixel index outside [0, H·W).
Tensor gather_at_pairs(const Tensor& values, const Tensor& pairs);

// How a point seen in several views combines its pixel labels.
enum class ViewReduce {
  mode,   // most frequent valid label over the views (ties -> smallest class), via vote_mode
  first,  // the label of the first view (in the given order) that pairs the point with a valid label
};

// Per-point pseudo-labels from per-view pixel labels: pairs[v] (P_v, 2) i64 (point, pixel),
// pixel_labels[v] (H, W) or (H·W,) i32/i64 with negatives = none. Returns (num_points,) i64, -1 where no
// view gives a valid label. Labels >= num_classes are an error.
Tensor project_pixel_labels(int64_t num_points, const std::vector<Tensor>& pairs,
                            const std::vector<Tensor>& pixel_labels, int64_t num_classes,
                            ViewReduce reduce = ViewReduce::mode);

// ids (any shape) i32/i64 -> (same shape) i64 in 0..G-1 by increasing id, negative ids -> -1; and G.
struct CompactGroups {
  Tensor group;  // i64, CPU
  int64_t num_groups = 0;
};
CompactGroups compact_nonnegative(const Tensor& ids);

// CLIP2Scene's switchable self-training target.
struct SelfTrainingSwitch {
  int start_epoch = 10;      // 0-based epoch from which it may fire: ScanNet "epoch >= 10" [code]; nuScenes "> 10" = 11
  double probability = 0.5;  // P(target = own prediction) per batch ("randint(1, 10) > 5" [code])
  bool enabled = true;

  // Draws once per batch (only when epoch >= start_epoch and enabled, so earlier epochs consume nothing).
  bool use_prediction(int epoch, Generator& gen) const;
  // labels, or argmax(logits) (detached, i64, logits' device) when use_pred.
  static Tensor target(const Tensor& labels, const Tensor& logits, bool use_pred);
};

// An EMA momentum key (teacher.momentum, erda.momentum): a number in [0, 1], or `auto` = 1 − 10 / total_steps
// clamped to [0, 0.999], so that the average spans about a tenth of the run whatever the budget (0.99 at 1000
// steps; a value set for a long run, e.g. 0.999, keeps a short run's early, untrained features for most of it).
// Errors name the key and the value.
double ema_momentum_from_config(const Config& cfg, const std::string& key, const std::string& fallback,
                                int64_t total_steps);

}  // namespace leseg::train
