// SPDX-License-Identifier: Apache-2.0
// Module: a tree of named parameters (leaf tensors with requires_grad), buffers (non-trainable state such
// as running statistics) and submodules. Names are dotted paths ("encoder.0.conv.weight").
// Identity: a parameter is registered by handle; the Module and the layer that owns it share one
// TensorImpl, so to(device) and load_state_dict change the values/storage *in place* and every holder
// (layer members, optimizers, EMA teachers) keeps seeing the same tensor.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/state_dict.h"
#include "engine/tensor.h"

namespace leseg {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual std::string type_name() const { return "Module"; }
  // Single-input forward (layers, Sequential). Modules with other signatures leave it unimplemented.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ---- tree ----
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  std::shared_ptr<Module> child(const std::string& name) const;

  // ---- mode ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();
  // Moves every parameter, gradient and buffer to `d` in place (same TensorImpl, new storage).
  void to(Device d);

  // ---- state ----
  StateDict state_dict() const;  // detached handles sharing storage with the live tensors
  // Copies values in place. strict: missing and unexpected keys are errors. Shape and dtype always checked.
  // The error names the key: "missing key 'fc.bias'", "unexpected key ...", "key 'w': shape (2, 3) vs (3, 2)".
  void load_state_dict(const StateDict& sd, bool strict = true);

 protected:
  // Marks t as a leaf requiring gradients and registers it. Returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    check_name(name);
    LESEG_CHECK(m != nullptr, type_name(), ": submodule '", name, "' is null");
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void check_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace leseg
