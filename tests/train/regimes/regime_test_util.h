// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the regime tests: a step's loss terms as numbers, and snapshots of a regime's weights
// to tell which modules an optimizer step moved.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "train/config.h"
#include "train/regime.h"

namespace leseg::train::testing {

// name -> value of every term of one step.
inline std::map<std::string, double> term_values(const LossTerms& t) {
  std::map<std::string, double> out;
  for (auto& [n, v] : t.terms) out[n] = v.to(DType::f64).item<double>();
  return out;
}

// "<module>.<parameter>" -> values, every trainable parameter of every module.
inline std::map<std::string, std::vector<float>> parameter_snapshot(Regime& r) {
  std::map<std::string, std::vector<float>> out;
  for (auto& [mn, m] : r.modules())
    for (auto& [k, v] : m->named_parameters()) out[mn + "." + k] = v.to_vector<float>();
  return out;
}

// The same over the whole state (parameters and f32 buffers such as prototypes and BN statistics).
inline std::map<std::string, std::vector<float>> state_snapshot(Regime& r) {
  std::map<std::string, std::vector<float>> out;
  for (auto& [mn, m] : r.modules())
    for (auto& [k, v] : m->state_dict())
      if (v.dtype() == DType::f32) out[mn + "." + k] = v.to_vector<float>();
  return out;
}

// Largest |value| of a tensor of any dtype.
inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to(DType::f64).to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// Largest |gradient| over the parameters of regime module `name` (0 when none has a gradient).
inline double module_grad(Regime& r, const std::string& name) {
  double g = 0;
  for (auto& [mn, m] : r.modules())
    if (mn == name)
      for (auto& [pn, p] : m->named_parameters())
        if (p.grad().defined()) g = std::max(g, max_abs(p.grad()));
  return g;
}

// A regime config from YAML, pointed at a views dataset (data.root) with its run folder beside it, then `extra`.
inline Config views_config(const std::string& yaml, const std::string& origin, const std::string& root,
                           const std::vector<std::string>& extra) {
  Config c = Config::from_string(yaml, origin);
  const auto out = std::filesystem::path(root).parent_path() / "run";
  c.apply_overrides({"data.root=" + root, "train.out=" + out.string()});
  c.apply_overrides(extra);
  return c;
}

}  // namespace leseg::train::testing
