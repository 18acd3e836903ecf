// SPDX-License-Identifier: Apache-2.0
#include "io/loader/splits.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "io/datasets/scene_io.h"
#include "io/synthetic/random.h"

namespace leseg::io::loader {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

int64_t num_labelled_scenes(int64_t num_scenes, double fraction) {
  LESEG_CHECK(fraction > 0 && fraction <= 1, "scene split: fraction ", fraction, " must be in (0, 1]");
  if (num_scenes <= 0) return 0;
  return std::min<int64_t>(num_scenes, std::max<int64_t>(int64_t(std::floor(fraction * double(num_scenes))), 1));
}

std::vector<std::string> choose_labelled_scenes(const std::vector<std::string>& scenes, double fraction, uint64_t seed) {
  const int64_t n = int64_t(scenes.size()), k = num_labelled_scenes(n, fraction);
  std::set<std::string> uniq(scenes.begin(), scenes.end());
  LESEG_CHECK(int64_t(uniq.size()) == n, "scene split: the scene list has duplicate names");
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
  synth::Rng rng(seed, 0x5E11);
  for (int64_t i = 0; i < k; ++i) std::swap(idx[size_t(i)], idx[size_t(i + int64_t(rng.below(uint64_t(n - i))))]);
  idx.resize(size_t(k));
  std::sort(idx.begin(), idx.end());
  std::vector<std::string> out;
  for (int64_t i : idx) out.push_back(scenes[size_t(i)]);
  return out;
}

void write_scene_split(const std::string& path, const std::vector<std::string>& labelled, double fraction,
                       uint64_t seed, int64_t num_scenes) {
  std::ofstream f(path);
  LESEG_CHECK(bool(f), path, ": cannot open for writing");
  f << "# leseg semi-supervised scene split: fraction " << std::setprecision(17) << fraction << ", seed " << seed
    << ", " << labelled.size() << " of " << num_scenes << " scenes labelled\n";
  for (const std::string& s : labelled) f << s << "\n";
  LESEG_CHECK(bool(f), path, ": write failed");
}

std::vector<std::string> read_scene_split(const std::string& path) {
  std::ifstream f(path);
  LESEG_CHECK(bool(f), path, ": cannot open scene split file");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    out.push_back(line);
  }
  return out;
}

WeakLabelSpec WeakLabelSpec::parse(const std::string& text, uint64_t seed) {
  WeakLabelSpec s;
  s.seed = seed;
  std::string t = text;
  if (const size_t at = t.find('@'); at != std::string::npos) {
    const std::string g = t.substr(at + 1);
    try {
      size_t used = 0;
      s.grid = std::stod(g, &used);
      LESEG_CHECK(used == g.size() || g.substr(used) == "m", "bad grid");
    } catch (const std::exception&) {
      LESEG_FAIL("weak labels: cannot parse the grid size '", g, "' in '", text, "' (expected e.g. 20pts@0.04)");
    }
    LESEG_CHECK(s.grid > 0, "weak labels: grid size in '", text, "' must be > 0");
    t = t.substr(0, at);
  }
  auto ends_with = [&](const std::string& suf) {
    return t.size() > suf.size() && t.compare(t.size() - suf.size(), suf.size(), suf) == 0;
  };
  try {
    size_t used = 0;
    if (ends_with("points") || ends_with("pts")) {
      const std::string num = t.substr(0, t.size() - (ends_with("points") ? 6 : 3));
      s.points_per_scene = std::stoll(num, &used);
      LESEG_CHECK(used == num.size() && s.points_per_scene > 0, "bad count");
    } else if (ends_with("%")) {
      const std::string num = t.substr(0, t.size() - 1);
      s.ratio = std::stod(num, &used) / 100.0;
      LESEG_CHECK(used == num.size(), "bad number");
    } else {
      s.ratio = std::stod(t, &used);
      LESEG_CHECK(used == t.size(), "bad number");
    }
  } catch (const std::exception&) {
    LESEG_FAIL("weak labels: cannot parse '", text, "' (expected a ratio like 0.01 or 1%, or N points like 20pts)");
  }
  LESEG_CHECK(s.points_per_scene > 0 || (s.ratio > 0 && s.ratio <= 1), "weak labels: ratio ", s.ratio,
              " from '", text, "' must be in (0, 1]");
  return s;
}

std::string WeakLabelSpec::str() const {
  std::ostringstream os;
  if (points_per_scene > 0)
    os << points_per_scene << " points per scene";
  else
    os << "ratio " << std::setprecision(17) << ratio << " per class";
  if (grid > 0) os << " on the " << grid << " m grid-subsampled cloud";
  os << ", seed " << seed;
  return os.str();
}

std::vector<int64_t> weak_label_indices(const Tensor& labels, const std::string& scene_name, const WeakLabelSpec& spec,
                                        const Tensor& coords) {
  LESEG_CHECK(labels.defined() && labels.ndim() == 1 && labels.dtype() == DType::i32, "weak labels: scene '",
              scene_name, "': labels must be (N,) i32, got ", labels.defined() ? labels.str() : "undefined");
  std::vector<int32_t> lab = labels.to_vector<int32_t>();
  if (spec.grid > 0) {  // ERDA: labels are drawn on the grid-subsampled cloud: one candidate per occupied cell
    LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(0) == labels.numel() && coords.size(1) == 3,
                "weak labels: scene '", scene_name, "': a grid (", spec.grid, " m) needs the (N, 3) coordinates, got ",
                coords.defined() ? coords.str() : "undefined");
    std::vector<float> xyz = coords.to(DType::f32).to_vector<float>();
    std::map<std::tuple<int64_t, int64_t, int64_t>, bool> seen;
    for (size_t i = 0; i < lab.size(); ++i) {
      const auto cell = std::make_tuple(int64_t(std::floor(xyz[3 * i] / spec.grid)),
                                        int64_t(std::floor(xyz[3 * i + 1] / spec.grid)),
                                        int64_t(std::floor(xyz[3 * i + 2] / spec.grid)));
      if (!seen.emplace(cell, true).second) lab[i] = -1;  // not its cell's representative: never drawn
    }
  }
  const uint64_t base = synth::hash_combine(spec.seed, fnv1a64(scene_name));
  std::vector<int64_t> keep;
  auto draw = [&](std::vector<int64_t>& pool, int64_t k, uint64_t stream) {
    synth::Rng rng(base, stream);
    const int64_t n = int64_t(pool.size());
    for (int64_t i = 0; i < k; ++i) std::swap(pool[size_t(i)], pool[size_t(i + int64_t(rng.below(uint64_t(n - i))))]);
    keep.insert(keep.end(), pool.begin(), pool.begin() + k);
  };
  if (spec.points_per_scene > 0) {
    std::vector<int64_t> pool;
    for (size_t i = 0; i < lab.size(); ++i)
      if (lab[i] >= 0) pool.push_back(int64_t(i));
    draw(pool, std::min<int64_t>(spec.points_per_scene, int64_t(pool.size())), 0xFFFFFFFFull);
  } else {
    std::map<int32_t, std::vector<int64_t>> by_class;
    for (size_t i = 0; i < lab.size(); ++i)
      if (lab[i] >= 0) by_class[lab[i]].push_back(int64_t(i));
    for (auto& [c, pool] : by_class) {
      const int64_t k = std::max<int64_t>(int64_t(std::floor(spec.ratio * double(pool.size()))), 1);
      draw(pool, k, uint64_t(c));
    }
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

Tensor apply_weak_labels(const Tensor& labels, const std::vector<int64_t>& keep) {
  LESEG_CHECK(labels.defined() && labels.ndim() == 1 && labels.dtype() == DType::i32,
              "weak labels: labels must be (N,) i32");
  const int64_t n = labels.numel();
  Tensor out = Tensor::full(Shape{n}, -1.0, DType::i32);
  const int32_t* src = labels.data<int32_t>();
  int32_t* dst = out.data<int32_t>();
  for (int64_t i : keep) {
    LESEG_CHECK(i >= 0 && i < n, "weak labels: kept index ", i, " outside [0, ", n, ")");
    dst[i] = src[i];
  }
  return out;
}

void write_weak_labels(const std::string& path, const WeakLabelTable& table, const WeakLabelSpec& spec) {
  std::ofstream f(path);
  LESEG_CHECK(bool(f), path, ": cannot open for writing");
  f << "# leseg weak point labels: " << spec.str() << ", " << table.size() << " scenes\n";
  for (const auto& [name, idx] : table) {
    LESEG_CHECK(!name.empty() && name.find_first_of(" \t\n") == std::string::npos, "weak labels: scene name '", name,
                "' cannot be written (empty or has whitespace)");
    f << name;
    for (int64_t i : idx) f << ' ' << i;
    f << '\n';
  }
  LESEG_CHECK(bool(f), path, ": write failed");
}

WeakLabelTable read_weak_labels(const std::string& path) {
  std::ifstream f(path);
  LESEG_CHECK(bool(f), path, ": cannot open weak label file");
  WeakLabelTable t;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string name;
    is >> name;
    if (name.empty()) continue;
    std::vector<int64_t> idx;
    std::string tok;
    while (is >> tok) {
      size_t used = 0;
      int64_t v = -1;
      try {
        v = std::stoll(tok, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      LESEG_CHECK(used == tok.size() && v >= 0, path, ":", lineno, ": bad point index '", tok, "'");
      idx.push_back(v);
    }
    LESEG_CHECK(!t.count(name), path, ":", lineno, ": scene '", name, "' listed twice");
    t[name] = std::move(idx);
  }
  return t;
}

std::vector<std::string> make_scene_split_file(const std::string& root, const std::string& split, double fraction,
                                               uint64_t seed, const std::string& out_path) {
  const std::vector<std::string> names = read_split(root, split);
  std::vector<std::string> chosen = choose_labelled_scenes(names, fraction, seed);
  write_scene_split(out_path, chosen, fraction, seed, int64_t(names.size()));
  return chosen;
}

WeakLabelTable make_weak_label_file(const std::string& root, const std::string& split, const WeakLabelSpec& spec,
                                    const std::string& out_path) {
  SceneReadOptions ro;
  ro.views = false;
  WeakLabelTable t;
  for (const std::string& name : read_split(root, split)) {
    const Scene s = read_scene(root + "/scenes/" + name, ro);
    LESEG_CHECK(s.labels.defined(), "weak labels: scene '", name, "' in ", root, " has no labels");
    t[name] = weak_label_indices(s.labels, name, spec, s.coords);
  }
  write_weak_labels(out_path, t, spec);
  return t;
}

}  // namespace leseg::io::loader
