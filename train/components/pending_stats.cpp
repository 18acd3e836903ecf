// SPDX-License-Identifier: Apache-2.0
#include "train/components/pending_stats.h"

#include "engine/autograd.h"
#include "engine/error.h"
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

void PendingStats::write(nlohmann::json& out) const {
  if (entries_.empty()) return;
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (const Entry& e : entries_) {
    LESEG_CHECK(e.num.device() == entries_[0].num.device(), "PendingStats: '", e.key, "' on ", e.num.device().str(),
                ", '", entries_[0].key, "' on ", entries_[0].num.device().str());
    parts.push_back(e.num.reshape(Shape{1}).to(DType::f64));
    if (e.den.defined()) parts.push_back(e.den.reshape(Shape{1}).to(DType::f64));
  }
  const std::vector<double> v = concat(parts, 0).to_vector<double>();  // the one read
  size_t k = 0;
  for (const Entry& e : entries_) {
    const double num = v[k++];
    const double den = e.den.defined() ? v[k++] : e.host_den;
    if (den > 0.0)
      out[e.key] = num / den;
    else if (e.zero_when_empty)
      out[e.key] = 0.0;
  }
}

}  // namespace leseg::train
