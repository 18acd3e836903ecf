// SPDX-License-Identifier: Apache-2.0
// Learning-rate schedulers. A scheduler owns a step counter t (0 after construction) and sets every
// group's lr = lr_at(group.initial_lr, t). Call step() once per iteration or once per epoch: the unit of
// t is whatever the caller steps with (totals and milestones are counted in that unit).
// Construction applies t = 0 (like PyTorch). State is the counter: state()/set_state(t) for checkpoints.
//   CosineWarmup : t < W: base * (f0 + (1 - f0) * t / W);  then min_lr + (base - min_lr) * (1 + cos(pi * q)) / 2,
//                  q = min(1, (t - W) / (T - W))
//   StepLR       : base * gamma^floor(t / step_size)
//   MultiStepLR  : base * gamma^(number of milestones <= t)
//   PolyLR       : min_lr + (base - min_lr) * (1 - min(t, T) / T)^power
//   LinearLR     : base * (f0 + (f1 - f0) * min(t, T) / T)
#pragma once
#include <cstdint>
#include <vector>

#include "engine/optim/optimizer.h"

namespace leseg {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt) : opt_(&opt) {}
  virtual ~LRScheduler() = default;
  virtual double lr_at(double base_lr, int64_t t) const = 0;

  void step() { set_state(t_ + 1); }
  int64_t last_step() const { return t_; }
  int64_t state() const { return t_; }
  // Jump to step t (resume) and apply its learning rates.
  void set_state(int64_t t);
  std::vector<double> get_lr() const;

 protected:
  void apply() { set_state(t_); }  // subclasses call this at the end of their constructor
  Optimizer* opt_;
  int64_t t_ = 0;
};

class CosineWarmupLR : public LRScheduler {
 public:
  CosineWarmupLR(Optimizer& opt, int64_t warmup_steps, int64_t total_steps, double min_lr = 0.0,
                 double warmup_start_factor = 0.0);
  double lr_at(double base, int64_t t) const override;

 private:
  int64_t warmup_, total_;
  double min_lr_, f0_;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);
  double lr_at(double base, int64_t t) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(double base, int64_t t) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

class PolyLR : public LRScheduler {
 public:
  PolyLR(Optimizer& opt, int64_t total_steps, double power = 0.9, double min_lr = 0.0);
  double lr_at(double base, int64_t t) const override;

 private:
  int64_t total_;
  double power_, min_lr_;
};

class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, double start_factor, double end_factor, int64_t total_steps);
  double lr_at(double base, int64_t t) const override;

 private:
  double f0_, f1_;
  int64_t total_;
};

}  // namespace leseg
