// SPDX-License-Identifier: Apache-2.0
// Shared by the regimes' slow learning tests (issue 19): a small synthetic dataset with views and geometric sets,
// and a helper that trains a regime from its shipped config (configs/<name>.yaml) on it at a tiny fixed budget
// and returns the final validation record. Each test asserts that the regime beats its negative control
// (data.label_source=shuffled, docs/evidence.md) with the same seed and budget: a learning assertion.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/synthetic/dataset.h"
#include "train/config.h"
#include "train/job.h"
#include "train/trainer.h"

namespace leseg::train::slow {

// <tmp>/leseg_regimes_slow_<pid>/data: 6 train + 3 val rooms, 3 views of 96 x 128 each, geometric sets,
// 16-d text embeddings (the transformer width of the label-free regimes), written once per process.
inline const std::string& dataset() {
  static std::string root;
  if (root.empty()) {
    root = (std::filesystem::temp_directory_path() / ("leseg_regimes_slow_" + std::to_string(::getpid())) / "data").string();
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = 6;
    o.val_scenes = 3;
    o.seed = 5;
    o.text_dim = 16;
    o.indoor.num_views = 3;
    o.indoor.height = 96;
    o.indoor.width = 128;
    o.indoor.point_density = 150;
    o.indoor.geometric_segments = true;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

// The shipped config (path relative to the source tree) with a tiny network and the given overrides, trained
// without intermediate evaluation; returns the final eval record (keys miou, miou_2d, ...).
inline nlohmann::json train_config(const std::string& config, const std::vector<std::string>& overrides) {
  const std::string cfg_path = std::string(LESEG_SOURCE_DIR) + "/" + config;
  Config c = Config::from_file(cfg_path);
  static int run = 0;
  const std::string out =
      (std::filesystem::path(dataset()).parent_path() / ("run" + std::to_string(run++))).string();
  std::vector<std::string> o = {"data.root=" + dataset(), "train.out=" + out, "device=cpu",
                                "train.eval_every=0", "train.log_every=1"};
  o.insert(o.end(), overrides.begin(), overrides.end());
  c.apply_overrides(o);
  Job job = build_job(c, JobKind::Train);
  job.trainer.verbose = false;
  TrainResult r = Trainer(*job.regime, *job.train, job.val.get(), job.trainer).run();
  return r.last_eval;
}

}  // namespace leseg::train::slow
