// SPDX-License-Identifier: Apache-2.0
// Evaluation: one confusion matrix over a whole split at full point resolution. Logits per voxel are mapped
// back to every point through the batch's inverse map (logits per point are used as they are); ignored
// ground truth (-1) is excluded; IoU per class and mIoU come from train/metrics.h.
#pragma once
#include "train/batch.h"
#include "train/metrics.h"
#include "train/regime.h"

namespace leseg::train {

// (N,) i32 predictions from logits (M voxels or N points, C).
Tensor point_predictions(const Tensor& logits, const Batch& batch);

// One pass over `source` (epoch 0, from its first batch) in eval mode without gradients; the regime is put
// back in training mode afterwards.
ConfusionMatrix evaluate(Regime& regime, BatchSource& source, int num_classes, int ignore_index = -1,
                         bool verbose = false);

}  // namespace leseg::train
