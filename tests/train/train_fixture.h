// SPDX-License-Identifier: Apache-2.0
// Shared by the trainer tests: a small synthetic indoor dataset written once per process, and configs for a
// tiny MinkUNet on it.
#pragma once
#include <filesystem>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include <vector>

#include "io/synthetic/dataset.h"
#include "train/cli.h"
#include "train/config.h"

namespace leseg::train::testing {

// <tmp>/leseg_train_test_<pid>/data with `train` + `val` low-density rooms (no views).
inline const std::string& tiny_dataset(int train = 4, int val = 2) {
  static std::string root;
  if (root.empty()) {
    root = (std::filesystem::temp_directory_path() / ("leseg_train_test_" + std::to_string(::getpid())) / "data").string();
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = train;
    o.val_scenes = val;
    o.seed = 7;
    o.text_dim = 16;
    o.indoor.num_views = 0;
    o.indoor.point_density = 120;
    o.indoor.geometric_segments = false;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

// <tmp>/leseg_<name>_<pid>/data, written once per name: `train_scenes` + 1 rooms with two 48 x 64 RGB-D views each
// (CLIP / SAM / caption stand-ins and label images), no geometric sets unless asked — the co-trained 2D regimes'
// tests (2 rooms, density 120) and the host-sync census (tests/train/host_sync_fixture.h).
inline std::string tiny_views_dataset(const std::string& name, uint64_t seed, int train_scenes = 2,
                                      double point_density = 120, bool geometric_segments = false) {
  const std::string root =
      (std::filesystem::temp_directory_path() / ("leseg_" + name + "_" + std::to_string(::getpid())) / "data").string();
  if (!std::filesystem::exists(std::filesystem::path(root) / "dataset.json")) {
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = train_scenes;
    o.val_scenes = 1;
    o.seed = seed;
    o.text_dim = 16;
    o.indoor.num_views = 2;
    o.indoor.height = 48;
    o.indoor.width = 64;
    o.indoor.point_density = point_density;
    o.indoor.geometric_segments = geometric_segments;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

inline std::string scratch(const std::string& name) {
  auto p = std::filesystem::path(tiny_dataset()).parent_path() / name;
  std::filesystem::remove_all(p);
  return p.string();
}

// A tiny supervised run: MinkUNet with 8-channel planes, voxel 0.2, batch 1.
inline Config tiny_config(const std::string& out, const std::string& model = "{name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}") {
  Config c = Config::from_string(
      "seed: 3\nregime: supervised\n"
      "data: {batch_size: 1, val_batch_size: 2, voxel_size: 0.2, augment: true, workers: 2}\n"
      "model: " + model + "\n"
      "optim: {name: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0001, sched: {name: cosine, unit: step}}\n"
      "train: {epochs: 2, log_every: 1, eval_every: -1}\n",
      "tiny.yaml");
  c.apply_overrides({"data.root=" + tiny_dataset(), "train.out=" + out});
  return c;
}

// `leseg ARGS...` in-process (train::run_cli) with its exit code and captured stdout / stderr.
struct CliRun {
  int rc;
  std::string out, err;
};
inline CliRun cli(const std::vector<std::string>& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int rc = run_cli(args);
  CliRun r{rc, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
  return r;
}

}  // namespace leseg::train::testing
