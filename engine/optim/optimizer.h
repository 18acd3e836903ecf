// SPDX-License-Identifier: Apache-2.0
// Optimizers over parameter groups, torch.optim-style. Each group carries its own hyper-parameters;
// per-parameter state (step count, momentum / moment buffers) is indexed by the parameter's position
// over all groups in order (as in PyTorch's state_dict), so a checkpoint is independent of addresses.
// Parameters without a gradient are skipped by step(). Every updated parameter gets bump_version().
//
// state_dict() layout (all tensors, so it fits a safetensors file):
//   "group.<g>.<hyper>"   f64 scalar per hyper-parameter (lr, initial_lr, weight_decay, momentum, ...)
//   "group.<g>.num_params" i64 scalar
//   "state.<i>.step"       i64 scalar (steps taken by parameter i; absent when it never stepped)
//   "state.<i>.<buffer>"   buffer with the parameter's shape and dtype (momentum_buffer, exp_avg, ...)
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/nn/state_dict.h"
#include "engine/tensor.h"

namespace leseg {

struct ParamGroup {
  std::vector<Tensor> params;
  double lr = 1e-3;
  double weight_decay = 0.0;
  // SGD
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  // Adam / AdamW
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool amsgrad = false;
  // The lr schedulers scale from; set to lr when the group is added (if < 0).
  double initial_lr = -1.0;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual const char* name() const = 0;
  // One update of every parameter that has a gradient. Runs outside autograd.
  virtual void step() = 0;
  // Drops the gradients (like set_to_none=True in PyTorch).
  void zero_grad();

  void add_param_group(ParamGroup g);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  int64_t num_params() const { return int64_t(state_.size()); }

  // Parameter i's state (by position over all groups): its step count and buffers, shared (not copies). For
  // train/optimizer_graph.h, which replays the update in a CUDA graph and keeps this state as an eager step would.
  int64_t& state_step(size_t i) { return state_.at(i).step; }
  std::map<std::string, Tensor>& state_buffers(size_t i) { return state_.at(i).buffers; }

  StateDict state_dict() const;
  // Validates every key (unknown key, group/parameter counts, buffer shape and dtype) naming the key.
  void load_state_dict(const StateDict& sd);

 protected:
  struct ParamState {
    int64_t step = 0;
    std::map<std::string, Tensor> buffers;
  };
  // Calls f(group, param, state) for every parameter with a gradient (checked: device, dtype, shape).
  template <class F>
  void for_each_param_with_grad(F f);
  // Buffer `name` of state `s` shaped like `p`, zero-initialised on first use.
  Tensor& buffer(ParamState& s, const std::string& name, const Tensor& p);
  // Names of the buffers this optimizer keeps (for load validation).
  virtual std::vector<std::string> buffer_names() const = 0;

  std::vector<ParamGroup> groups_;
  std::vector<ParamState> state_;
};

template <class F>
void Optimizer::for_each_param_with_grad(F f) {
  size_t idx = 0;
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      ParamState& s = state_[idx++];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      LESEG_CHECK(grad.shape() == p.shape() && grad.dtype() == p.dtype() && grad.device() == p.device(), name(),
                  ": gradient ", grad.str(), " does not match parameter ", p.str());
      f(g, p, grad, s);
    }
  }
}

}  // namespace leseg
