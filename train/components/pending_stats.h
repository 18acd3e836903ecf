// SPDX-License-Identifier: Apache-2.0
// Mechanism statistics that a regime queues on the device during its step and the Trainer reads once, after the
// step (Regime::step_stats()), so that logging what a method does costs no host synchronisation inside the step
// (docs/execution.md, "Host synchronisations are counted"). Each entry is a ratio num / den of 0-d tensors (or a
// host denominator); read() copies every pending value to the host in one read and forms the JSON record.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"

namespace leseg::train {

class PendingStats {
 public:
  // `key` = num / den, written only when den > 0 (or, with `zero_when_empty`, as 0 when den == 0).
  void ratio(const std::string& key, const Tensor& num, const Tensor& den, bool zero_when_empty = false);
  void ratio(const std::string& key, const Tensor& num, double den, bool zero_when_empty = false);
  void clear() { entries_.clear(); }
  bool empty() const { return entries_.empty(); }
  // One host read of every pending value (nothing is read when empty); adds the keys to `out`.
  void write(nlohmann::json& out) const;

 private:
  struct Entry {
    std::string key;
    Tensor num, den;  // 0-d; den undefined: host_den
    double host_den = 0.0;
    bool zero_when_empty = false;
  };
  std::vector<Entry> entries_;
};

// Statistics whose computation needs host values of device tensors (agreement of targets and predictions, computed on
// the host): queued during the step as functions that capture what they need (detached tensors, host vectors) and
// run in step_stats(), after the step.
class DeferredStats {
 public:
  void add(std::function<void(nlohmann::json&)> f) { fns_.push_back(std::move(f)); }
  void clear() { fns_.clear(); }
  void write(nlohmann::json& out) const {
    for (const auto& f : fns_) f(out);
  }

 private:
  std::vector<std::function<void(nlohmann::json&)>> fns_;
};

}  // namespace leseg::train
