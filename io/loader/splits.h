// SPDX-License-Identifier: Apache-2.0
// Label-scarce settings, deterministic from a seed and saved with the run (library side of
// `leseg data split` / `leseg data weak-labels`).
//   Semi-supervised scene split (LASS3D 1/5/10 %): k = min(n, max(floor(f * n), 1)) labelled scenes, chosen by a
//   partial Fisher-Yates shuffle of the given list driven by Rng(seed); returned in the list's order. Text file:
//   '#' comment lines (fraction, seed, counts), then one scene name per line.
//   Weak point labels (ERDA): per scene and class with n_c labelled points keep max(floor(r * n_c), 1) of them
//   (r = 0.01 for "1%", 0.001 for "0.1%"); or "N points per scene" (ScanNet data-efficient: N points drawn
//   among the scene's labelled points, all of them when fewer). Points are drawn by a partial Fisher-Yates
//   shuffle with Rng(hash(seed, fnv1a(scene name)), stream = class), so a scene's choice depends only on
//   (seed, name, labels), never on the order scenes are visited. Text file: '#' comment lines, then per scene
//   "<name> <i0> <i1> ..." (kept point indices, ascending).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::io::loader {

uint64_t fnv1a64(const std::string& s);

// ---- semi-supervised scene splits ----
int64_t num_labelled_scenes(int64_t num_scenes, double fraction);  // min(n, max(floor(f n), 1)); 0 when n = 0
std::vector<std::string> choose_labelled_scenes(const std::vector<std::string>& scenes, double fraction, uint64_t seed);
void write_scene_split(const std::string& path, const std::vector<std::string>& labelled, double fraction,
                       uint64_t seed, int64_t num_scenes);
std::vector<std::string> read_scene_split(const std::string& path);

// ---- weak point labels ----
struct WeakLabelSpec {
  double ratio = 0.01;           // per class: max(floor(ratio * n_c), 1); used when points_per_scene < 0
  int64_t points_per_scene = -1; // > 0: N points per scene instead
  uint64_t seed = 0;
  double grid = 0.0;             // > 0: draw only among one point per grid cell of this size in metres (ERDA's
                                 // 0.04 m grid-subsampled cloud; the ratio counts that cloud), suffix "@0.04"
  // "0.01", "1%", "0.1%", "20pts" / "20points", each optionally followed by "@<grid metres>" (e.g. "20pts@0.04")
  static WeakLabelSpec parse(const std::string& text, uint64_t seed = 0);
  std::string str() const;
};

// labels (N,) i32 (-1 ignore) -> the kept point indices, ascending.
// coords (N, 3) f32: needed when spec.grid > 0 (the candidates are the first point of each occupied grid cell).
std::vector<int64_t> weak_label_indices(const Tensor& labels, const std::string& scene_name, const WeakLabelSpec& spec,
                                        const Tensor& coords = Tensor());
// labels with every point outside `keep` set to -1.
Tensor apply_weak_labels(const Tensor& labels, const std::vector<int64_t>& keep);

using WeakLabelTable = std::map<std::string, std::vector<int64_t>>;  // scene name -> kept indices
void write_weak_labels(const std::string& path, const WeakLabelTable& table, const WeakLabelSpec& spec);
WeakLabelTable read_weak_labels(const std::string& path);

// Entry points over a dataset root in our layout (io/scene.h): read <root>/<split>.txt, choose / compute,
// write `out_path`; return what was written.
std::vector<std::string> make_scene_split_file(const std::string& root, const std::string& split, double fraction,
                                               uint64_t seed, const std::string& out_path);
WeakLabelTable make_weak_label_file(const std::string& root, const std::string& split, const WeakLabelSpec& spec,
                                    const std::string& out_path);

}  // namespace leseg::io::loader
