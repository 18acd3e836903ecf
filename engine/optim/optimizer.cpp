// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/optimizer.h"

#include <algorithm>

namespace leseg {

namespace {
const char* const kHyper[] = {"lr", "initial_lr", "weight_decay", "momentum", "dampening", "nesterov",
                              "beta1", "beta2", "eps", "amsgrad"};

double* hyper_ptr(ParamGroup& g, const std::string& k, bool& is_bool, bool*& bptr) {
  is_bool = false;
  bptr = nullptr;
  if (k == "lr") return &g.lr;
  if (k == "initial_lr") return &g.initial_lr;
  if (k == "weight_decay") return &g.weight_decay;
  if (k == "momentum") return &g.momentum;
  if (k == "dampening") return &g.dampening;
  if (k == "beta1") return &g.beta1;
  if (k == "beta2") return &g.beta2;
  if (k == "eps") return &g.eps;
  is_bool = true;
  if (k == "nesterov") bptr = &g.nesterov;
  if (k == "amsgrad") bptr = &g.amsgrad;
  return nullptr;
}

double get_hyper(const ParamGroup& g, const std::string& k) {
  bool b;
  bool* bp;
  double* d = hyper_ptr(const_cast<ParamGroup&>(g), k, b, bp);
  return b ? (*bp ? 1.0 : 0.0) : *d;
}

bool parse_index(const std::string& s, size_t& pos, int64_t& out) {
  size_t e = s.find('.', pos);
  if (e == std::string::npos || e == pos) return false;
  out = 0;
  for (size_t i = pos; i < e; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  pos = e + 1;
  return true;
}
}  // namespace

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Optimizer::add_param_group(ParamGroup g) {
  LESEG_CHECK(g.lr >= 0, name(), ": group ", groups_.size(), " has negative lr ", g.lr);
  LESEG_CHECK(g.weight_decay >= 0, name(), ": group ", groups_.size(), " has negative weight_decay ", g.weight_decay);
  for (size_t i = 0; i < g.params.size(); ++i) {
    const Tensor& p = g.params[i];
    LESEG_CHECK(p.defined(), name(), ": group ", groups_.size(), " parameter ", i, " is undefined");
    LESEG_CHECK(p.is_leaf() && p.requires_grad(), name(), ": group ", groups_.size(), " parameter ", i, " ", p.str(),
                " is not a leaf tensor with requires_grad");
    LESEG_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, name(), ": parameter ", p.str(),
                " must be f32 or f64");
    for (const auto& og : groups_)
      for (const auto& q : og.params)
        LESEG_CHECK(!q.same(p), name(), ": parameter ", p.str(), " appears in more than one group");
    for (size_t j = 0; j < i; ++j)
      LESEG_CHECK(!g.params[j].same(p), name(), ": parameter ", p.str(), " appears twice in group ", groups_.size());
  }
  if (g.initial_lr < 0) g.initial_lr = g.lr;
  state_.resize(state_.size() + g.params.size());
  groups_.push_back(std::move(g));
}

Tensor& Optimizer::buffer(ParamState& s, const std::string& bname, const Tensor& p) {
  auto it = s.buffers.find(bname);
  if (it == s.buffers.end()) it = s.buffers.emplace(bname, zeros_like(p)).first;
  return it->second;
}

StateDict Optimizer::state_dict() const {
  StateDict sd;
  size_t idx = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = groups_[gi];
    std::string pre = "group." + std::to_string(gi) + ".";
    for (const char* k : kHyper) sd[pre + k] = Tensor::scalar<double>(get_hyper(g, k));
    sd[pre + "num_params"] = Tensor::scalar<int64_t>(int64_t(g.params.size()));
    for (size_t j = 0; j < g.params.size(); ++j, ++idx) {
      const ParamState& s = state_[idx];
      if (s.step == 0 && s.buffers.empty()) continue;
      std::string sp = "state." + std::to_string(idx) + ".";
      sd[sp + "step"] = Tensor::scalar<int64_t>(s.step);
      for (const auto& [bn, b] : s.buffers) sd[sp + bn] = b.detach().clone();
    }
  }
  return sd;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  std::vector<std::string> bufs = buffer_names();
  // Check the layout first, then apply, so a failed load leaves the optimizer unchanged.
  std::vector<ParamGroup> groups = groups_;
  std::vector<ParamState> state(state_.size());
  std::vector<const Tensor*> flat;
  for (auto& g : groups_)
    for (auto& p : g.params) flat.push_back(&p);
  std::vector<bool> seen_group(groups.size(), false);
  for (const auto& [key, t] : sd) {
    LESEG_CHECK(t.defined(), name(), ".load_state_dict: key '", key, "' holds an undefined tensor");
    size_t pos = 0;
    int64_t idx = 0;
    if (key.rfind("group.", 0) == 0) {
      pos = 6;
      LESEG_CHECK(parse_index(key, pos, idx), name(), ".load_state_dict: malformed key '", key, "'");
      LESEG_CHECK(idx < int64_t(groups.size()), name(), ".load_state_dict: key '", key, "' names group ", idx,
                  " but the optimizer has ", groups.size(), " groups");
      std::string field = key.substr(pos);
      LESEG_CHECK(t.numel() == 1, name(), ".load_state_dict: key '", key, "' must be a scalar, got ", t.str());
      seen_group[size_t(idx)] = true;
      if (field == "num_params") {
        int64_t n = int64_t(t.item_double());
        LESEG_CHECK(n == int64_t(groups[size_t(idx)].params.size()), name(), ".load_state_dict: key '", key, "': ", n,
                    " parameters saved, group has ", groups[size_t(idx)].params.size());
        continue;
      }
      bool is_bool;
      bool* bp;
      double* dp = hyper_ptr(groups[size_t(idx)], field, is_bool, bp);
      LESEG_CHECK(dp || bp, name(), ".load_state_dict: unexpected key '", key, "'");
      if (is_bool)
        *bp = t.item_double() != 0.0;
      else
        *dp = t.item_double();
    } else if (key.rfind("state.", 0) == 0) {
      pos = 6;
      LESEG_CHECK(parse_index(key, pos, idx), name(), ".load_state_dict: malformed key '", key, "'");
      LESEG_CHECK(idx < int64_t(flat.size()), name(), ".load_state_dict: key '", key, "' names parameter ", idx,
                  " but the optimizer has ", flat.size());
      std::string field = key.substr(pos);
      const Tensor& p = *flat[size_t(idx)];
      if (field == "step") {
        LESEG_CHECK(t.numel() == 1 && is_integral(t.dtype()), name(), ".load_state_dict: key '", key,
                    "' must be an integer scalar, got ", t.str());
        state[size_t(idx)].step = int64_t(t.item_double());
        continue;
      }
      LESEG_CHECK(std::find(bufs.begin(), bufs.end(), field) != bufs.end(), name(),
                  ".load_state_dict: unexpected key '", key, "'");
      LESEG_CHECK(t.shape() == p.shape(), name(), ".load_state_dict: key '", key, "' has shape ", t.shape().str(),
                  ", parameter has ", p.shape().str());
      LESEG_CHECK(t.dtype() == p.dtype(), name(), ".load_state_dict: key '", key, "' has dtype ", dtype_name(t.dtype()),
                  ", parameter has ", dtype_name(p.dtype()));
      Tensor b = empty_like(p);
      b.copy_(t);
      state[size_t(idx)].buffers[field] = b;
    } else {
      LESEG_FAIL(name(), ".load_state_dict: unexpected key '", key, "'");
    }
  }
  for (size_t gi = 0; gi < groups.size(); ++gi)
    LESEG_CHECK(seen_group[gi], name(), ".load_state_dict: missing keys for group ", gi, " (e.g. 'group.", gi, ".lr')");
  groups_ = std::move(groups);
  state_ = std::move(state);
}

}  // namespace leseg
