// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the regime tests: a step's loss terms as numbers, and snapshots of a regime's weights
// to tell which modules an optimizer step moved.
#pragma once
#include <map>
#include <string>
#include <vector>

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

}  // namespace leseg::train::testing
