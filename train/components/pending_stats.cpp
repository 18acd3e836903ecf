// SPDX-License-Identifier: Apache-2.0
#include "train/components/pending_stats.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/host_sync.h"
#include "engine/ops/shape_ops.h"

namespace leseg::train {

void PendingStats::ratio(const std::string& key, const Tensor& num, const Tensor& den, bool zero_when_empty) {
  LESEG_CHECK(num.defined() && num.numel() == 1 && den.defined() && den.numel() == 1, "PendingStats: '", key,
              "' needs one-element numerator and denominator");
  LESEG_CHECK(num.device() == den.device(), "PendingStats: '", key, "': numerator on ", num.device().str(),
              ", denominator on ", den.device().str());
  entries_.push_back({key, num.detach(), den.detach(), 0.0, zero_when_empty});
}

void PendingStats::ratio(const std::string& key, const Tensor& num, double den, bool zero_when_empty) {
  LESEG_CHECK(num.defined() && num.numel() == 1, "PendingStats: '", key, "' needs a one-element numerator");
  entries_.push_back({key, num.detach(), Tensor(), den, zero_when_empty});
}

void PendingStats::add(std::vector<Tensor> inputs, Finish finish) {
  for (Tensor& t : inputs) {
    LESEG_CHECK(t.defined(), "PendingStats: an undefined input");
    t = t.detach();
  }
  finishes_.push_back({std::move(inputs), std::move(finish)});
}

void PendingStats::write(nlohmann::json& out) const {
  if (empty()) return;
  NoGradGuard ng;
  // Every value to read, flat f64, on one device: the ratios' numerators (and tensor denominators), then each
  // finish's inputs.
  std::vector<const Tensor*> all;
  for (const Entry& e : entries_) {
    all.push_back(&e.num);
    if (e.den.defined()) all.push_back(&e.den);
  }
  for (const Pending& p : finishes_)
    for (const Tensor& t : p.inputs) all.push_back(&t);
  Device dev = Device::cpu();
  for (const Tensor* t : all)
    if (!t->device().is_cpu()) {
      dev = t->device();
      break;
    }
  std::vector<Tensor> parts;
  for (const Tensor* t : all)
    if (t->numel() > 0) parts.push_back(t->reshape(Shape{t->numel()}).to(DType::f64).to(dev));
  std::vector<double> v;
  if (!parts.empty()) v = (parts.size() == 1 ? parts[0] : concat(parts, 0)).to_vector<double>();  // the one read
  size_t k = 0;
  for (const Entry& e : entries_) {
    const double num = v[k++];
    const double den = e.den.defined() ? v[k++] : e.host_den;
    if (den > 0.0)
      out[e.key] = num / den;
    else if (e.zero_when_empty)
      out[e.key] = 0.0;
  }
  HostMemoryRead host;  // the finishes' other reads are host data built in the step
  for (const Pending& p : finishes_) {
    std::vector<std::vector<double>> values;
    for (const Tensor& t : p.inputs) {
      values.emplace_back(v.begin() + int64_t(k), v.begin() + int64_t(k) + t.numel());
      k += size_t(t.numel());
    }
    p.finish(values, out);
  }
}

}  // namespace leseg::train
