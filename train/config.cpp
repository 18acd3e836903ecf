// SPDX-License-Identifier: Apache-2.0
#include "train/config.h"

#include <algorithm>
#include <sstream>

#include "engine/error.h"

namespace leseg::train {

namespace {
std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  std::string p;
  while (std::getline(ss, p, '.')) {
    LESEG_CHECK(!p.empty(), "config: malformed key '", key, "'");
    parts.push_back(p);
  }
  LESEG_CHECK(!parts.empty(), "config: empty key");
  return parts;
}

void collect(const YAML::Node& n, const std::string& prefix, std::vector<std::string>& out) {
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      LESEG_CHECK(it->first.IsScalar(), "config: a key under '", prefix.empty() ? "(top level)" : prefix,
                  "' is not a plain name (a list or mapping used as a key)");
      std::string k = it->first.Scalar();
      collect(it->second, prefix.empty() ? k : prefix + "." + k, out);
    }
  } else if (!prefix.empty()) {
    out.push_back(prefix);
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

Config Config::from_file(const std::string& path) {
  Config c;
  try {
    c.root_ = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    LESEG_FAIL("config: cannot open '", path, "'");
  } catch (const YAML::Exception& e) {
    LESEG_FAIL("config: ", path, ": YAML error at line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg);
  }
  if (!c.root_ || c.root_.IsNull()) c.root_ = YAML::Node(YAML::NodeType::Map);
  LESEG_CHECK(c.root_.IsMap(), "config: ", path, ": top level must be a mapping");
  c.origin_ = path;
  (void)c.keys();  // every key a plain name (errors name where)
  return c;
}

Config Config::from_string(const std::string& yaml, const std::string& origin) {
  Config c;
  try {
    c.root_ = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    LESEG_FAIL("config: ", origin, ": YAML error at line ", e.mark.line + 1, ": ", e.msg);
  }
  if (!c.root_ || c.root_.IsNull()) c.root_ = YAML::Node(YAML::NodeType::Map);
  LESEG_CHECK(c.root_.IsMap(), "config: ", origin, ": top level must be a mapping");
  c.origin_ = origin;
  (void)c.keys();  // every key a plain name (errors name where)
  return c;
}

void Config::apply_override(const std::string& assignment) {
  auto eq = assignment.find('=');
  LESEG_CHECK(eq != std::string::npos && eq > 0, "config override '", assignment, "': expected key=value");
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  YAML::Node v;
  try {
    v = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    LESEG_FAIL("config override '", assignment, "': value is not valid YAML: ", e.msg);
  }
  if (!v || v.IsNull()) v = YAML::Node(value);
  set(key, v);
}

void Config::apply_overrides(const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) apply_override(a);
}

YAML::Node Config::find(const std::string& key) const {
  YAML::Node cur = root_;  // copy = reference to the same node; reset() rebinds
  for (const auto& p : split_key(key)) {
    if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    YAML::Node next = cur[p];
    if (!next) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(next);
  }
  return cur;
}

bool Config::has(const std::string& key) const { return find(key).IsDefined(); }

void Config::set(const std::string& key, const YAML::Node& value) {
  auto parts = split_key(key);
  YAML::Node cur = root_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    if (!next || !next.IsMap()) {
      LESEG_CHECK(!next || next.IsNull(), "config: cannot set '", key, "': '", parts[i], "' is not a mapping");
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    }
    cur.reset(next);
  }
  cur[parts.back()] = value;
}

template <class T>
T Config::get(const std::string& key) const {
  YAML::Node n = find(key);
  LESEG_CHECK(n.IsDefined(), "config: required key '", key, "' is missing (", origin_, ")");
  used_.insert(key);
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    LESEG_FAIL("config: key '", key, "' (", origin_, ") has a value of the wrong type: ", YAML::Dump(n));
  }
}

template <class T>
T Config::get(const std::string& key, const T& fallback) const {
  used_.insert(key);
  YAML::Node n = find(key);
  if (!n.IsDefined() || n.IsNull()) return fallback;
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    LESEG_FAIL("config: key '", key, "' (", origin_, ") has a value of the wrong type: ", YAML::Dump(n));
  }
}

#define LESEG_CONFIG_INSTANTIATE(T)                              \
  template T Config::get<T>(const std::string&) const;           \
  template T Config::get<T>(const std::string&, const T&) const;
LESEG_CONFIG_INSTANTIATE(int)
LESEG_CONFIG_INSTANTIATE(int64_t)
LESEG_CONFIG_INSTANTIATE(uint64_t)
LESEG_CONFIG_INSTANTIATE(double)
LESEG_CONFIG_INSTANTIATE(float)
LESEG_CONFIG_INSTANTIATE(bool)
LESEG_CONFIG_INSTANTIATE(std::string)
LESEG_CONFIG_INSTANTIATE(std::vector<int>)
LESEG_CONFIG_INSTANTIATE(std::vector<int64_t>)
LESEG_CONFIG_INSTANTIATE(std::vector<double>)
LESEG_CONFIG_INSTANTIATE(std::vector<std::string>)
#undef LESEG_CONFIG_INSTANTIATE

std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  collect(root_, "", out);
  return out;
}

void Config::check_unused() const {
  std::vector<std::string> unknown;
  std::vector<std::string> known(used_.begin(), used_.end());
  for (const auto& k : keys()) {
    bool read = used_.count(k) > 0;
    // A key read as a whole subtree (e.g. a list of maps) counts for its children.
    for (const auto& u : used_)
      if (k.rfind(u + ".", 0) == 0) read = true;
    if (!read) unknown.push_back(k);
  }
  if (unknown.empty()) return;
  std::ostringstream os;
  os << "config (" << origin_ << "): unknown key" << (unknown.size() > 1 ? "s" : "") << ":";
  for (const auto& k : unknown) {
    os << " '" << k << "'";
    std::string best;
    size_t bd = 4;
    for (const auto& c : known) {
      size_t d = edit_distance(k, c);
      if (d < bd) bd = d, best = c;
    }
    if (!best.empty()) os << " (did you mean '" << best << "'?)";
  }
  LESEG_FAIL(os.str());
}

std::string Config::dump() const {
  YAML::Emitter e;
  e << root_;
  return e.c_str();
}

}  // namespace leseg::train
