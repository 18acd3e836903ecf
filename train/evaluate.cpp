// SPDX-License-Identifier: Apache-2.0
#include "train/evaluate.h"

#include <cmath>
#include <optional>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/ops/reduce.h"
#include "train/progress.h"

namespace leseg::train {

Tensor point_predictions(const Tensor& logits, const Batch& batch) {
  LESEG_CHECK(logits.defined() && logits.ndim() == 2, "point_predictions: logits must be (rows, C), got ",
              logits.defined() ? logits.str() : std::string("undefined"));
  const int64_t m = batch.input.defined() ? batch.input.size() : -1;
  const int64_t n = batch.points.defined() ? batch.num_points() : batch.inverse.defined() ? batch.inverse.numel() : 0;
  std::vector<int64_t> rows = argmax(logits.to(Device::cpu()), 1).to_vector<int64_t>();
  Tensor out = Tensor::empty(Shape{n}, DType::i32);
  int32_t* po = out.data<int32_t>();
  if (logits.size(0) == m && batch.inverse.defined()) {
    LESEG_CHECK(batch.inverse.numel() == n, "point_predictions: inverse map has ", batch.inverse.numel(),
                " entries for ", n, " points");
    std::vector<int32_t> inv = batch.inverse.to_vector<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      LESEG_CHECK(inv[size_t(i)] >= 0 && inv[size_t(i)] < m, "point_predictions: inverse[", i, "] = ", inv[size_t(i)],
                  " outside [0, ", m, ")");
      po[i] = int32_t(rows[size_t(inv[size_t(i)])]);
    }
  } else {
    LESEG_CHECK(logits.size(0) == n, "point_predictions: logits have ", logits.size(0), " rows; the batch has ", m,
                " voxels and ", n, " points");
    for (int64_t i = 0; i < n; ++i) po[i] = int32_t(rows[size_t(i)]);
  }
  return out;
}

ConfusionMatrix evaluate(Regime& regime, BatchSource& source, int num_classes, int ignore_index, bool verbose) {
  ConfusionMatrix cm(num_classes, ignore_index);
  NoGradGuard ng;
  regime.set_training(false);
  try {
    source.begin_epoch(0, 0);
    std::optional<Progress> prog;
    if (verbose) prog.emplace("eval", source.batches_per_epoch(), 1);
    int64_t index = 0;
    while (auto b = source.next()) {
      // every error raised inside a batch (model, kernels, metrics) names the batch's scenes
      try {
        LESEG_CHECK(b->labels.defined(), "evaluate: batch of scenes without labels");
        const Tensor logits = regime.logits(*b);
        Tensor pred = point_predictions(logits, *b);
        Tensor gt = b->labels.to(Device::cpu());
        cm.update(pred.data<int32_t>(), gt.data<int32_t>(), pred.numel());
        check_device_errors(logits.device());
      } catch (const std::exception& e) {
        std::string names;
        for (const auto& n : b->scene_names) names += (names.empty() ? "" : ", ") + n;
        LESEG_FAIL(e.what(), " (evaluation batch ", index, ", scenes ", names, ")");
      }
      ++index;
      if (prog) prog->step(b->num_scenes, b->num_points(), std::nan(""));
    }
    if (prog) prog->finish();
  } catch (...) {
    regime.set_training(true);
    throw;
  }
  regime.set_training(true);
  return cm;
}

}  // namespace leseg::train
