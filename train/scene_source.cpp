// SPDX-License-Identifier: Apache-2.0
#include "train/scene_source.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <numbers>

#include "engine/error.h"
#include "engine/rng.h"
#include "engine/sparse/sparse_ops.h"
#include "io/datasets/scene_io.h"

namespace leseg::train {

Tensor scene_features(const io::Scene& s, bool normals) {
  const int64_t n = s.num_points();
  const int64_t c = normals ? 6 : 3;
  Tensor f = Tensor::zeros(Shape{n, c}, DType::f32);
  float* pf = f.data<float>();
  if (s.colors.defined()) {
    const uint8_t* pc = s.colors.data<uint8_t>();
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) pf[i * c + k] = float(pc[i * 3 + k]) / 127.5f - 1.0f;
  }
  if (normals && s.normals.defined()) {
    const float* pn = s.normals.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int k = 0; k < 3; ++k) pf[i * c + 3 + k] = pn[i * 3 + k];
  }
  return f;
}

SceneBatchSource::SceneBatchSource(std::vector<io::Scene> scenes, const SceneSourceOptions& opt)
    : scenes_(std::move(scenes)), opt_(opt) {
  LESEG_CHECK(!scenes_.empty(), "SceneBatchSource: no scenes");
  LESEG_CHECK(opt_.batch_size >= 1, "SceneBatchSource: batch_size ", opt_.batch_size, " must be >= 1");
  if (opt_.max_scenes > 0 && int64_t(scenes_.size()) > opt_.max_scenes) scenes_.resize(size_t(opt_.max_scenes));
  if (opt_.labels_per_scene >= 0) {
    // Weak labels: a fixed random subset of labelled points per scene (from the seed, not the epoch).
    for (size_t si = 0; si < scenes_.size(); ++si) {
      io::Scene& s = scenes_[si];
      if (!s.labels.defined()) continue;
      Tensor lab = s.labels.clone();
      int32_t* pl = lab.data<int32_t>();
      std::vector<int64_t> labelled;
      for (int64_t i = 0; i < lab.numel(); ++i)
        if (pl[i] >= 0) labelled.push_back(i);
      Generator g(opt_.seed, 0x5eed0000ull + si);
      std::vector<int64_t> perm = randperm(int64_t(labelled.size()), g).to_vector<int64_t>();
      std::vector<uint8_t> keep(size_t(lab.numel()), 0);
      for (int64_t j = 0; j < std::min<int64_t>(opt_.labels_per_scene, int64_t(perm.size())); ++j)
        keep[size_t(labelled[size_t(perm[size_t(j)])])] = 1;
      for (int64_t i = 0; i < lab.numel(); ++i)
        if (!keep[size_t(i)]) pl[i] = -1;
      s.labels = lab;
    }
  }
  begin_epoch(0, 0);
}

std::vector<io::Scene> SceneBatchSource::read_split_scenes(const std::string& root, const std::string& split,
                                                           int max_scenes) {
  LESEG_CHECK(std::filesystem::is_directory(root), "dataset root '", root, "' does not exist (generate one with `leseg data synth`)");
  std::vector<std::string> names = io::read_split(root, split);
  LESEG_CHECK(!names.empty(), "dataset '", root, "': split '", split, "' lists no scenes");
  if (max_scenes > 0 && int(names.size()) > max_scenes) names.resize(size_t(max_scenes));
  io::SceneReadOptions ro;
  ro.views = false;
  std::vector<io::Scene> out;
  for (auto& n : names) {
    io::Scene s = io::read_scene(root + "/scenes/" + n, ro);
    if (s.name.empty()) s.name = n;
    out.push_back(std::move(s));
  }
  return out;
}

int64_t SceneBatchSource::batches_per_epoch() const {
  return (int64_t(scenes_.size()) + opt_.batch_size - 1) / opt_.batch_size;
}

void SceneBatchSource::begin_epoch(int64_t epoch, int64_t start) {
  LESEG_CHECK(start >= 0 && start <= batches_per_epoch(), "SceneBatchSource: start batch ", start, " outside [0, ",
              batches_per_epoch(), "]");
  epoch_ = epoch;
  cursor_ = start;
  const int64_t n = int64_t(scenes_.size());
  if (opt_.shuffle) {
    Generator g(opt_.seed, 0x0e00c000ull + uint64_t(epoch));
    order_ = randperm(n, g).to_vector<int64_t>();
  } else {
    order_.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) order_[size_t(i)] = i;
  }
}

std::optional<Batch> SceneBatchSource::next() {
  if (cursor_ >= batches_per_epoch()) return std::nullopt;
  const int64_t b0 = cursor_ * opt_.batch_size;
  const int64_t b1 = std::min<int64_t>(b0 + opt_.batch_size, int64_t(order_.size()));
  std::vector<int64_t> idx(order_.begin() + b0, order_.begin() + b1);
  const uint64_t key = (uint64_t(epoch_) << 20) + uint64_t(cursor_);
  ++cursor_;
  return make_batch(idx, opt_.augment, key);
}

Batch SceneBatchSource::make_batch(const std::vector<int64_t>& idx, bool augment, uint64_t aug_key) const {
  Batch b;
  int64_t total = 0;
  b.point_offsets.push_back(0);
  for (int64_t i : idx) {
    LESEG_CHECK(i >= 0 && i < int64_t(scenes_.size()), "SceneBatchSource: scene index ", i, " out of range");
    total += scenes_[size_t(i)].num_points();
    b.point_offsets.push_back(total);
    b.scene_names.push_back(scenes_[size_t(i)].name);
  }
  const int64_t c = in_channels();
  Tensor pts = Tensor::empty(Shape{total, 3}, DType::f32);
  Tensor bat = Tensor::empty(Shape{total}, DType::i32);
  Tensor feats = Tensor::empty(Shape{total, c}, DType::f32);
  Tensor labels = Tensor::full(Shape{total}, -1.0, DType::i32);
  float* pp = pts.data<float>();
  int32_t* pb = bat.data<int32_t>();
  float* pf = feats.data<float>();
  int32_t* pl = labels.data<int32_t>();
  for (size_t j = 0; j < idx.size(); ++j) {
    const io::Scene& s = scenes_[size_t(idx[j])];
    const int64_t off = b.point_offsets[j], n = s.num_points();
    double cs = 1.0, sn = 0.0, fx = 1.0;
    if (augment) {
      Generator g(opt_.seed ^ 0xa0a0a0a0ull, aug_key * 64 + j);
      std::vector<float> u = uniform(Shape{2}, 0.0, 1.0, g, DType::f32).to_vector<float>();
      const double th = 2.0 * std::numbers::pi * u[0];
      cs = std::cos(th);
      sn = std::sin(th);
      fx = u[1] < 0.5 ? -1.0 : 1.0;
    }
    const float* pc = s.coords.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const double x = fx * pc[i * 3], y = pc[i * 3 + 1];
      pp[(off + i) * 3 + 0] = float(cs * x - sn * y);
      pp[(off + i) * 3 + 1] = float(sn * x + cs * y);
      pp[(off + i) * 3 + 2] = pc[i * 3 + 2];
      pb[off + i] = int32_t(j);
    }
    Tensor f = scene_features(s, opt_.normals);
    std::memcpy(pf + off * c, f.data<float>(), size_t(n * c) * sizeof(float));
    if (s.labels.defined()) std::memcpy(pl + off, s.labels.data<int32_t>(), size_t(n) * sizeof(int32_t));
  }
  // Rotated coordinates may be negative: voxelize floors, which is fine within its +-2^20 range.
  Voxelized v = voxelize(pts, bat, feats, opt_.voxel_size, VoxelReduce::Mean);
  b.input = v.voxels;
  b.inverse = v.inverse;
  b.point_labels = labels;
  return b;
}

}  // namespace leseg::train
