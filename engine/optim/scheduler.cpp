// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace leseg {

void LRScheduler::set_state(int64_t t) {
  LESEG_CHECK(t >= 0, "LRScheduler: step ", t, " < 0");
  t_ = t;
  for (auto& g : opt_->param_groups()) g.lr = lr_at(g.initial_lr, t_);
}

std::vector<double> LRScheduler::get_lr() const {
  std::vector<double> r;
  for (const auto& g : opt_->param_groups()) r.push_back(g.lr);
  return r;
}

CosineWarmupLR::CosineWarmupLR(Optimizer& opt, int64_t warmup_steps, int64_t total_steps, double min_lr,
                               double warmup_start_factor)
    : LRScheduler(opt), warmup_(warmup_steps), total_(total_steps), min_lr_(min_lr), f0_(warmup_start_factor) {
  LESEG_CHECK(warmup_steps >= 0 && total_steps > warmup_steps, "CosineWarmupLR: need 0 <= warmup_steps (", warmup_steps,
              ") < total_steps (", total_steps, ")");
  LESEG_CHECK(min_lr >= 0, "CosineWarmupLR: min_lr ", min_lr, " < 0");
  apply();
}
double CosineWarmupLR::lr_at(double base, int64_t t) const {
  if (t < warmup_) return base * (f0_ + (1.0 - f0_) * double(t) / double(warmup_));
  double q = std::min(1.0, double(t - warmup_) / double(total_ - warmup_));
  return min_lr_ + (base - min_lr_) * 0.5 * (1.0 + std::cos(std::numbers::pi * q));
}

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma) : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  LESEG_CHECK(step_size > 0, "StepLR: step_size ", step_size, " must be > 0");
  apply();
}
double StepLR::lr_at(double base, int64_t t) const { return base * std::pow(gamma_, double(t / step_size_)); }

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(opt), milestones_(std::move(milestones)), gamma_(gamma) {
  LESEG_CHECK(std::is_sorted(milestones_.begin(), milestones_.end()), "MultiStepLR: milestones must be increasing");
  apply();
}
double MultiStepLR::lr_at(double base, int64_t t) const {
  auto k = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();
  return base * std::pow(gamma_, double(k));
}

PolyLR::PolyLR(Optimizer& opt, int64_t total_steps, double power, double min_lr)
    : LRScheduler(opt), total_(total_steps), power_(power), min_lr_(min_lr) {
  LESEG_CHECK(total_steps > 0, "PolyLR: total_steps ", total_steps, " must be > 0");
  apply();
}
double PolyLR::lr_at(double base, int64_t t) const {
  double q = 1.0 - double(std::min(t, total_)) / double(total_);
  return min_lr_ + (base - min_lr_) * std::pow(q, power_);
}

LinearLR::LinearLR(Optimizer& opt, double start_factor, double end_factor, int64_t total_steps)
    : LRScheduler(opt), f0_(start_factor), f1_(end_factor), total_(total_steps) {
  LESEG_CHECK(total_steps > 0, "LinearLR: total_steps ", total_steps, " must be > 0");
  apply();
}
double LinearLR::lr_at(double base, int64_t t) const {
  return base * (f0_ + (f1_ - f0_) * double(std::min(t, total_)) / double(total_));
}

}  // namespace leseg
