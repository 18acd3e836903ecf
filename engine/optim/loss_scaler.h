// SPDX-License-Identifier: Apache-2.0
// Dynamic loss scaling for f16 training (train.precision=f16), as torch.cuda.amp.GradScaler:
//   backward of scale(loss) = loss · S  (small f16 gradients stay above the f16 subnormal range);
//   unscale_(params): every gradient · 1/S (S is a power of two: exact), returns whether all are finite;
//   update(found_inf): inf/NaN -> the step is skipped by the caller and S ·= backoff (0.5); otherwise, after
//   growth_interval (2000) clean steps in a row, S ·= growth (2). S never drops below min_scale (2^-24).
// The state (scale, clean-step streak, counters) is a StateDict for checkpoints ("loss_scaler.*" keys in the trainer).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/nn/state_dict.h"
#include "engine/tensor.h"

namespace leseg {

struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16, as PyTorch
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  double min_scale = 1.0 / 16777216.0;  // 2^-24
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions o = {});
  // loss · S (differentiable).
  Tensor scale(const Tensor& loss) const;
  // Divides every defined gradient of `params` by S in place; true when every gradient is finite afterwards.
  bool unscale_(const std::vector<Tensor>& params) const;
  // Records the outcome of one optimizer step: found_inf -> shrink (and count a skip), else maybe grow.
  void update(bool found_inf);

  double scale_value() const { return scale_; }
  int64_t clean_streak() const { return streak_; }
  int64_t skipped_steps() const { return skipped_; }
  const LossScalerOptions& options() const { return opt_; }

  StateDict state_dict() const;  // "scale" (f64), "streak", "skipped" (i64)
  // Validates the keys, naming the missing one.
  void load_state_dict(const StateDict& sd);

 private:
  LossScalerOptions opt_;
  double scale_;
  int64_t streak_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace leseg
