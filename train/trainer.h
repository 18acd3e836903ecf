// SPDX-License-Identifier: Apache-2.0
// Trainer: the one training loop shared by every regime (ARCHITECTURE.md).
//   iteration = one batch: forward (regime.step) -> sum of loss terms / accumulate -> backward;
//   optimizer step = after `accumulate` batches (and at the end of an epoch with a partial group):
//   clip (optional) -> every optimizer slot steps -> step-unit schedulers step -> zero_grad;
//   epoch end: epoch-unit schedulers step; evaluation every `eval_every` epochs (and after the last).
// Run folder <out>/: config.yaml (resolved), metrics.jsonl (JSON lines: "train" every log_every steps,
// "eval" after each evaluation, "end"), checkpoints/<step_NNNNNNNN>/ + checkpoints/latest.
// Checkpoints are taken at optimizer-step boundaries (no pending gradients) every ckpt_every steps (0: at the end
// of every epoch), before every evaluation, at the end, and when SIGINT/SIGTERM asked to stop; they hold the regime's modules, every optimizer (keys
// "<slot>.<key>"), every scheduler counter, the regime's generators and the process default generator, and
// the loader position (epoch, batch index). Resuming from one replays the exact same sequence on CPU: the
// losses and weights equal those of an uninterrupted run bit for bit.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/optim/loss_scaler.h"
#include "engine/precision.h"
#include "train/batch.h"
#include "train/distributed.h"
#include "train/evaluate.h"
#include "train/regime.h"

namespace leseg::train {

struct TrainerOptions {
  std::string out_dir;          // run folder (created); empty = no files written
  std::string resume;           // checkpoint directory, or a run folder / checkpoints root with `latest`
  int64_t epochs = 1;
  int64_t max_steps = -1;       // stop (with a checkpoint) after this many optimizer steps in total; -1 = none
  int accumulate = 1;           // batches per optimizer step
  int64_t log_every = 10;       // optimizer steps between "train" metric lines and progress lines
  int64_t ckpt_every = 0;       // optimizer steps between checkpoints (0: at every epoch's end); always before an evaluation
  int keep_checkpoints = 2;     // newest checkpoints kept in the run folder (older ones deleted)
  int64_t eval_every = 1;       // epochs between evaluations (0: only after the last epoch; <0: never)
  double clip_grad_norm = 0.0;  // 0 = off
  // train.precision (engine/precision.h): set with PrecisionScope for the forward and backward of every batch;
  // master weights and optimizer state stay f32. f16 adds dynamic loss scaling (engine/optim/loss_scaler.h).
  Precision precision = Precision::f32;
  LossScalerOptions loss_scaler;  // f16 only (train.loss_scale_growth_interval)
  int num_classes = 0;
  int ignore_index = -1;
  std::vector<std::string> class_names;
  nlohmann::json config = nlohmann::json::object();  // resolved config, stored in checkpoints
  bool verbose = true;
  bool tensorboard = false;     // also write the metrics records as TensorBoard scalars to <out_dir>/tensorboard
  // train.prefetch (train/prefetch.h): batch N+1's host->device copies (pinned staging, a copy stream) overlap step
  // N. `device` is where the regime computes (the prefetch's destination). Same batches, same results.
  bool prefetch = false;
  Device device = Device::cpu();
  // train.cuda_graph (docs/execution.md): the optimizer phase (clipping, optimizer updates, zero_grad) captured once
  // in a CUDA graph and replayed every step. Refused on a CPU device and where capture is impossible.
  bool cuda_graph = false;
  // Data-parallel group (train/distributed.h, docs/distributed.md): with more than one rank, rank 0 alone writes
  // the run folder and prints; the loaders must be sharded (io/loader/loader.h).
  DistributedOptions distributed;
};

struct TrainResult {
  int64_t steps = 0;              // optimizer steps done in total (including those before a resume)
  int64_t epoch = 0;              // epoch the run stopped in (== epochs when finished)
  std::vector<double> step_losses;  // total loss of each optimizer step taken in this process
  bool stopped_by_signal = false;
  bool finished = false;
  std::string last_checkpoint;
  double last_miou = -1.0;
  nlohmann::json last_eval;
  double seconds = 0.0;
  double comm_seconds = 0.0;  // time in data-parallel collectives outside the backward (0 for one process)
  int64_t overlapped_buckets = 0;  // gradient buckets whose all-reduce started during a backward
};

class Trainer {
 public:
  // val may be null (no evaluation).
  Trainer(Regime& regime, BatchSource& train, BatchSource* val, TrainerOptions opt);
  TrainResult run();

  // Writes a checkpoint of the current state (used at the intervals above; exposed for tests).
  std::string save(int64_t epoch, int64_t batch_in_epoch);

 private:
  std::string restore(const std::string& dir);  // returns the checkpoint directory read
  std::string resolve_resume(const std::string& path) const;
  void prune_checkpoints();
  void remove_stale_temporaries();

  Regime& regime_;
  BatchSource& train_;
  BatchSource* val_;
  TrainerOptions opt_;
  int64_t step_ = 0, start_epoch_ = 0, start_batch_ = 0;
  LossScaler scaler_;  // used when opt_.precision == f16
  nlohmann::json best_ = nlohmann::json::object();
};

}  // namespace leseg::train
