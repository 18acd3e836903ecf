// SPDX-License-Identifier: Apache-2.0
// A job built from a config: the dataset (io layout), the batch sources, the regime and the trainer options.
// Every key is read here (so check_unused() after build_job names any typo), whatever the command
// (train / eval / infer) will use. Keys and defaults: configs/default.yaml (documented there).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/distributed/comm.h"
#include "io/scene.h"
#include "train/config.h"
#include "train/regime.h"
#include "train/batch.h"
#include "train/trainer.h"

namespace leseg::train {

struct Job {
  io::DatasetInfo info;
  std::unique_ptr<LoaderBatchSource> train, val;  // train is null unless training; val null for inference
  io::loader::BatchOptions eval_batch;             // batch options without augmentation (eval / inference)
  std::unique_ptr<Regime> regime;
  TrainerOptions trainer;
  Device device = Device::cpu();
  uint64_t seed = 0;
};

enum class JobKind { Train, Eval, Infer };
// out_dir: "" = train.out from the config (default runs/<config name>).
// comm: the data-parallel group (nullptr = dist::world(): every rank of an mpirun launch, else this process
// alone). With several ranks the loaders are sharded, `device: cuda` means the node-local rank's GPU, only rank 0
// writes files, and the keys model.sync_bn / distributed.* reach the trainer (docs/distributed.md).
Job build_job(Config& cfg, JobKind kind, const std::string& out_dir = "", dist::Communicator* comm = nullptr);

// Loads the model weights (and only those) of a checkpoint directory (or a run folder / checkpoints root
// with `latest`) into the job's regime.
std::string load_weights(Job& job, const std::string& checkpoint);

}  // namespace leseg::train
