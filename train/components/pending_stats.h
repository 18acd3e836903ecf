// SPDX-License-Identifier: Apache-2.0
// Mechanism statistics that a regime queues on the device during its step and the Trainer reads once, after the
// step (Regime::step_stats()), so that logging what a method does costs no host synchronisation inside the step
// and one read after it (docs/execution.md, "Host synchronisations are counted"). An entry is a ratio num / den of
// 0-d tensors (or a host denominator), or device tensors whose host values a function turns into statistics;
// write() copies every pending value to the host in one read and forms the JSON record.
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
  // Statistics computed on the host from device tensors: `inputs` (any shape and dtype, read flat as f64: integers
  // exact below 2^53) come to the host in the same single read as the ratios, then `finish` gets their values in
  // order. It runs under HostMemoryRead: whatever else it reads must be host data built in the step.
  using Finish = std::function<void(const std::vector<std::vector<double>>& values, nlohmann::json& out)>;
  void add(std::vector<Tensor> inputs, Finish finish);
  // Queues everything `other` holds after what this holds (read in the same single read).
  void append(const PendingStats& other) {
    entries_.insert(entries_.end(), other.entries_.begin(), other.entries_.end());
    finishes_.insert(finishes_.end(), other.finishes_.begin(), other.finishes_.end());
  }
  void clear() {
    entries_.clear();
    finishes_.clear();
  }
  bool empty() const { return entries_.empty() && finishes_.empty(); }
  // One host read of every pending value (nothing is read when there is none), then the finishes in order; adds the
  // keys to `out`. Every tensor is read on the device of the first one not on the CPU (others are copied there).
  void write(nlohmann::json& out) const;

 private:
  struct Pending {
    std::vector<Tensor> inputs;
    Finish finish;
  };
  std::vector<Pending> finishes_;
  struct Entry {
    std::string key;
    Tensor num, den;  // 0-d; den undefined: host_den
    double host_den = 0.0;
    bool zero_when_empty = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace leseg::train
