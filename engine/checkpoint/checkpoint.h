// SPDX-License-Identifier: Apache-2.0
// Training checkpoints: a directory <root>/<name>/ holding
//   model.safetensors      the model's state_dict (params + buffers), loadable by safetensors.torch
//   optimizer.safetensors  the optimizer's state_dict (see optim/optimizer.h for its key layout)
//   meta.json              {"format": "leseg-checkpoint", "version": 1, "step", "epoch", "config",
//                           "rng": {name: {seed, offset, subsequence}}, "scheduler": {...}, "extra": {...}}
// and <root>/latest, a one-line text file naming the newest checkpoint directory.
// Atomicity: everything is written into <root>/<name>.tmp-XXXXXX, each file fsynced, the directory
// fsynced, then renamed to <root>/<name> (an existing one is swapped out first) and the root fsynced;
// `latest` is replaced the same way (write latest.tmp-XXXXXX, fsync, rename). A crash at any point
// leaves the previous checkpoint and pointer intact (at worst a stale *.tmp-* directory remains).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/nn/state_dict.h"
#include "engine/rng.h"

namespace leseg {

struct RngState {
  uint64_t seed = 0, offset = 0, subsequence = 0;
  static RngState of(const Generator& g) { return {g.seed(), g.offset(), g.subsequence()}; }
  void restore(Generator& g) const { g.set_state(seed, offset, subsequence); }
};

struct Checkpoint {
  StateDict model;
  StateDict optimizer;
  int64_t step = 0;
  int64_t epoch = 0;
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, RngState> rng;
  nlohmann::json scheduler = nlohmann::json::object();  // e.g. {"last_step": 1200}
  nlohmann::json extra = nlohmann::json::object();      // best metric, etc.
};

struct CheckpointWriteOptions {
  bool update_latest = true;
  // Test hook: called after all files are written and synced, before the rename into place.
  // Throwing from it simulates a crash; the temporary directory is then left behind (as a crash would).
  std::function<void(const std::string& tmp_dir)> before_rename;
};

// Writes <root>/<name> atomically (root is created if needed). Returns the final directory path.
std::string save_checkpoint(const std::string& root, const std::string& name, const Checkpoint& ck,
                            const CheckpointWriteOptions& opts = {});
// Reads and validates a checkpoint directory; errors name the file at fault.
Checkpoint load_checkpoint(const std::string& dir, Device device = Device::cpu());
// The directory named by <root>/latest, if that file exists (and names an existing directory).
std::optional<std::string> latest_checkpoint(const std::string& root);

}  // namespace leseg
