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

}  // namespace leseg::train
