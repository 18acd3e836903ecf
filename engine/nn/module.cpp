// SPDX-License-Identifier: Apache-2.0
#include "engine/nn/module.h"

#include <map>
#include <set>

#include "engine/autograd.h"

namespace leseg {

Tensor Module::forward(const Tensor&) { LESEG_FAIL(type_name(), ": this module has no single-tensor forward"); }

void Module::check_name(const std::string& name) const {
  LESEG_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": invalid name '", name,
              "' (non-empty, no dots)");
  for (const auto& [n, _] : params_) LESEG_CHECK(n != name, type_name(), ": name '", name, "' already registered");
  for (const auto& [n, _] : buffers_) LESEG_CHECK(n != name, type_name(), ": name '", name, "' already registered");
  for (const auto& [n, _] : children_) LESEG_CHECK(n != name, type_name(), ": name '", name, "' already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_name(name);
  LESEG_CHECK(t.defined(), type_name(), ": parameter '", name, "' is undefined");
  LESEG_CHECK(t.is_leaf(), type_name(), ": parameter '", name, "' must be a leaf tensor (use detach())");
  t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_name(name);
  LESEG_CHECK(t.defined(), type_name(), ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, t);
  return t;
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, m] : children_)
    if (n == name) return m;
  LESEG_FAIL(type_name(), ": no submodule '", name, "'");
}

void Module::collect(const std::string& prefix, bool params, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", params, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", true, out);
  return out;
}
std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", false, out);
  return out;
}
std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  std::set<const TensorImpl*> seen;  // a shared parameter is listed once
  for (auto& [n, t] : named_parameters())
    if (seen.insert(t.impl().get()).second) out.push_back(t);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::to(Device d) {
  // One new storage per old storage, so parameters that were views of one buffer stay views.
  std::map<const Storage*, std::shared_ptr<Storage>> moved;
  auto move_impl = [&](const std::shared_ptr<TensorImpl>& impl) {
    if (!impl || impl->storage->device() == d) return;
    auto& dst = moved[impl->storage.get()];
    if (!dst) {
      dst = std::make_shared<Storage>(impl->storage->nbytes(), d);
      copy_bytes(dst->data(), d, impl->storage->data(), impl->storage->device(), impl->storage->nbytes());
    }
    impl->storage = dst;
  };
  std::vector<std::pair<std::string, Tensor>> all = named_parameters();
  for (auto& b : named_buffers()) all.push_back(b);
  for (auto& [n, t] : all) {
    LESEG_CHECK(!t.grad_fn(), type_name(), ".to: '", n, "' is not a leaf tensor");
    move_impl(t.impl());
    move_impl(t.impl()->grad);
  }
}

StateDict Module::state_dict() const {
  StateDict sd;
  for (auto& [n, t] : named_parameters()) sd[n] = t.detach();
  for (auto& [n, t] : named_buffers()) sd[n] = t.detach();
  return sd;
}

void Module::load_state_dict(const StateDict& sd, bool strict) {
  std::vector<std::pair<std::string, Tensor>> all = named_parameters();
  for (auto& b : named_buffers()) all.push_back(b);
  std::set<std::string> own;
  // Validate everything first: a failed load leaves the module unchanged.
  std::vector<std::pair<Tensor, Tensor>> todo;
  for (auto& [n, t] : all) {
    own.insert(n);
    auto it = sd.find(n);
    if (it == sd.end()) {
      LESEG_CHECK(!strict, type_name(), ".load_state_dict: missing key '", n, "' (expected ", t.str(), ")");
      continue;
    }
    const Tensor& src = it->second;
    LESEG_CHECK(src.defined(), type_name(), ".load_state_dict: key '", n, "' holds an undefined tensor");
    LESEG_CHECK(src.shape() == t.shape(), type_name(), ".load_state_dict: key '", n, "': shape ", src.shape().str(),
                " in the state dict vs ", t.shape().str(), " in the module");
    LESEG_CHECK(src.dtype() == t.dtype(), type_name(), ".load_state_dict: key '", n, "': dtype ", dtype_name(src.dtype()),
                " in the state dict vs ", dtype_name(t.dtype()), " in the module");
    todo.emplace_back(t, src);
  }
  if (strict)
    for (auto& [k, v] : sd) LESEG_CHECK(own.count(k), type_name(), ".load_state_dict: unexpected key '", k, "'");
  NoGradGuard ng;
  for (auto& [dst, src] : todo) {
    if (dst.storage_id() == src.storage_id() && dst.data_ptr() == src.data_ptr()) continue;
    Tensor d = dst.detach();
    d.copy_(src);
  }
}

}  // namespace leseg
