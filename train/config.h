// SPDX-License-Identifier: Apache-2.0
// Config: a YAML tree plus `key=value` overrides (dotted keys, YAML-typed values). Every read is recorded;
// after a run is built, check_unused() turns any key that nobody read into an error naming it (typos in
// configs and overrides never pass silently), with the closest known key as a hint.
#pragma once
#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/precision.h"
#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg::train {

class Config {
 public:
  Config() : root_(YAML::NodeType::Map) {}
  static Config from_file(const std::string& path);
  static Config from_string(const std::string& yaml, const std::string& origin = "<string>");

  // "a.b.c=value": value parsed as YAML (numbers, bools, lists "[1, 2]", strings).
  void apply_override(const std::string& assignment);
  void apply_overrides(const std::vector<std::string>& assignments);

  bool has(const std::string& key) const;
  template <class T>
  T get(const std::string& key) const;  // required: error names the key and the file
  template <class T>
  T get(const std::string& key, const T& fallback) const;  // optional
  void set(const std::string& key, const YAML::Node& value);

  // All leaf keys present in the tree, dotted.
  std::vector<std::string> keys() const;
  // Throws listing every key that was never read (with a "did you mean" hint).
  void check_unused() const;
  // Resolved config as YAML text (written into run folders and checkpoints).
  std::string dump() const;
  const std::string& origin() const { return origin_; }

 private:
  YAML::Node find(const std::string& key) const;
  YAML::Node root_;
  std::string origin_ = "<empty>";
  mutable std::set<std::string> used_;
};

// The sparse-conv variant keys of a training/eval job (docs/sparse-conv.md, engine/sparse/conv_autotune.h):
//   train.conv_variant:  auto | gather_gemm_scatter | implicit_gemm | grouped_gemm | tensor_core_implicit_gemm
//                        (the names LESEG_CONV_VARIANT parses). auto: every conv layer autotuned (timed once per
//                        shape class on the first step, cached); a name: that variant forced on every conv.
//   train.conv_autotune: true | false. true is conv_variant auto; false: no timing, each conv runs the model's
//                        variant (gather_gemm_scatter; autotuned only where that cannot run the dtype, e.g. bf16).
// Absent keys leave the process-wide setting alone (the environment variables LESEG_CONV_VARIANT /
// LESEG_CONV_AUTOTUNE then decide). Errors name the key and the valid values; a forced variant that cannot run
// the job's precision on CUDA (gather_gemm_scatter / implicit_gemm under bf16/f16) and contradictory keys
// (conv_variant <name> with conv_autotune: true, conv_variant auto with conv_autotune: false) are config errors.
// CPU jobs run the CPU twin whatever the variant (the keys are validated all the same).
struct ConvSettings {
  bool variant_set = false;                   // train.conv_variant given
  std::optional<kernels::ConvVariant> variant;  // nullopt = auto
  std::optional<bool> autotune;               // train.conv_autotune given
};
ConvSettings read_conv_settings(const Config& cfg, Precision precision, bool cuda);
// Applies the settings to the process (set_conv_variant_override / set_conv_autotune); no-op for absent keys.
void apply_conv_settings(const ConvSettings& s);

}  // namespace leseg::train
