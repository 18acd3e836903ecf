// SPDX-License-Identifier: Apache-2.0
// Data-parallel training (docs/distributed.md): what the Trainer does differently when its communicator has
// more than one rank. One DataParallel per Trainer::run.
//   start-up:  every rank's fingerprint (resolved config, regime, parameter shapes, batches per epoch, world
//              size) is compared: a mismatch is an error on every rank naming the ranks that differ; then rank 0's
//              model state (weights and buffers of every module, teachers included) is broadcast.
//   each batch: one all-reduce of [n_r, n_r·loss_r, n_r·term_r…, scenes, points] where n_r = regime.loss_rows()
//              (labelled rows; rows weighting) or 1 (equal weighting: a regime whose loss is not a mean over rows,
//              or distributed.loss_weighting: equal). Rank r back-propagates its loss × n_r / Σ n: the ranks'
//              losses add up to the global batch's loss, so the summed gradients are exactly those of one process
//              on the global batch. The reduced loss is the one logged and checked for non-finite values (every
//              rank fails together).
//   each optimizer step: gradients summed over the ranks in fixed buckets (engine/distributed/grad_reducer.h),
//              started while the step's last backward still runs (distributed.overlap);
//              afterwards rank 0's buffers (running statistics, EMA teachers' buffers, prototypes) are broadcast
//              so that every rank holds the same state (PyTorch DDP's broadcast_buffers). With sync BN the running
//              statistics are global already and ERDA's prototypes consume class sums reduced over the ranks
//              (dist::training_group()), so rank 0's buffers are the global ones; without sync BN they are rank 0's
//              own (as in DDP).
//   stop:      a stop signal on any rank stops every rank at the same step (one flag all-reduced per step).
//   evaluation: each rank evaluates its shard of the validation set; the confusion matrices are summed.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/distributed/comm.h"
#include "engine/distributed/grad_reducer.h"
#include "train/metrics.h"
#include "train/regime.h"

namespace leseg::train {

struct DistributedOptions {
  dist::Communicator* comm = nullptr;  // nullptr or world size 1: this process alone (every call is a no-op)
  bool sync_bn = false;                // model.sync_bn: BatchNorm statistics over all ranks
  std::string loss_weighting = "rows"; // rows | equal (distributed.loss_weighting)
  double bucket_mb = 25.0;             // distributed.bucket_mb
  bool overlap = true;                 // distributed.overlap: start bucket all-reduces during the last backward
};

class DataParallel {
 public:
  DataParallel(const DistributedOptions& o, Regime& regime);
  bool active() const { return comm_ != nullptr; }
  int rank() const { return comm_ ? comm_->rank() : 0; }
  int size() const { return comm_ ? comm_->size() : 1; }

  void start(const nlohmann::json& config, int64_t batches_per_epoch);

  struct Reduced {
    double weight = 1.0;  // this rank's loss weight
    double loss = 0.0;    // the global batch's loss
    std::vector<double> terms;
    int64_t scenes = 0, points = 0;
  };
  Reduced reduce_batch(const Batch& b, double loss, const std::vector<double>& terms);
  // Before each backward: `last` = the last batch of an optimizer step (its backward overlaps the all-reduces).
  void before_backward(bool last);
  void reduce_gradients();
  const dist::GradReducer* reducer() const { return reducer_.get(); }
  void after_step();
  bool any(bool flag);
  ConfusionMatrix reduce(const ConfusionMatrix& cm);
  void inject_fault(int64_t step) const;
  // Seconds in collectives outside the backward so far (the exposed part, including waits for the slowest rank).
  double comm_seconds() const { return comm_seconds_; }
  int64_t overlapped_buckets() const { return overlapped_buckets_; }  // buckets started during a backward so far

 private:
  dist::Communicator* comm_ = nullptr;
  DistributedOptions opt_;
  Regime& regime_;
  std::unique_ptr<dist::GradReducer> reducer_;
  double comm_seconds_ = 0.0;
  int64_t overlapped_buckets_ = 0;
};

}  // namespace leseg::train
