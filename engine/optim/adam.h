// SPDX-License-Identifier: Apache-2.0
// Adam and AdamW, exactly torch.optim.Adam / AdamW (bias correction, eps outside the sqrt, optional amsgrad).
//   Adam : g += wd * p (L2 penalty through the gradient)
//   AdamW: p *= 1 - lr * wd (decoupled decay), then the Adam update on the raw gradient
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// Group fields used: lr, beta1, beta2, eps, weight_decay, amsgrad. Buffers: exp_avg, exp_avg_sq, max_exp_avg_sq.
#pragma once
#include "engine/optim/optimizer.h"

namespace leseg {

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const ParamGroup& hyper);
  explicit Adam(std::vector<ParamGroup> groups);
  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  void step() override;

 protected:
  explicit Adam(bool decoupled) : decoupled_(decoupled) {}
  void init(std::vector<ParamGroup> groups);
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }
  bool decoupled_ = false;
};

// AdamW: PyTorch's default weight_decay for AdamW is 1e-2; ParamGroup's default is 0, so set it explicitly.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const ParamGroup& hyper);
  explicit AdamW(std::vector<ParamGroup> groups);
};

}  // namespace leseg
