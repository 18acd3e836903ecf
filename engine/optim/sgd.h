// SPDX-License-Identifier: Apache-2.0
// SGD with momentum, dampening, Nesterov and (coupled) weight decay: exactly torch.optim.SGD.
//   d = g + wd * p;  buf = (first step) ? d : momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf;  p -= lr * d
// Group fields used: lr, momentum, dampening, nesterov, weight_decay. State buffer: momentum_buffer.
#pragma once
#include "engine/optim/optimizer.h"

namespace leseg {

class SGD : public Optimizer {
 public:
  // One group of `params` with the hyper-parameters of `hyper` (its params field is ignored).
  SGD(std::vector<Tensor> params, const ParamGroup& hyper);
  explicit SGD(std::vector<ParamGroup> groups);
  const char* name() const override { return "SGD"; }
  void step() override;

 protected:
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
};

}  // namespace leseg
