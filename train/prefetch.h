// SPDX-License-Identifier: Apache-2.0
// train.prefetch: the next batch's host->device copies run while the current step computes.
//
// PrefetchingBatchSource wraps the Trainer's BatchSource. stage_next() pulls batch N+1 from the loader, copies each
// of its tensors into a pinned staging block (engine/pinned_pool.h), queues the pinned->device copies on the copy
// stream and records one event after them; the Trainer calls it once step N's backward is queued, so the copies
// overlap step N's kernels. next() hands the staged batch out after making the compute stream wait for its event
// (a stream wait, not a host wait) and builds its sparse input on the device there.
// Memory safety (the review's prefetch use-after-free): the device tensors are allocated on the copy stream and
// record_stream'd on the compute stream, so the caching allocator reuses them only after the compute work queued
// before their free has run; each pinned block is record_stream'd on the copy stream and freed at once, so it is
// refilled only after its copy ran. Every tensor of the batch is moved (Batch::to's set); the order of batches, and
// so the training, is unchanged (tests/train/prefetch_test.cpp: identical losses and weights with and without).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "engine/pinned_pool.h"
#include "train/batch.h"

namespace leseg::train {

class PrefetchingBatchSource final : public BatchSource {
 public:
  // Uses `model` and `pool` (not owned): the CPU tests pass a HostTransferModel and a pool over it.
  PrefetchingBatchSource(BatchSource& src, TransferModel& model, PinnedBlockPool& pool);
  // The device's own: a CUDA copy stream and the process-wide pinned pool, or on the CPU the HostTransferModel and
  // a private pool (a faithful model of the ordering, no overlap: what the CPU tests run).
  PrefetchingBatchSource(BatchSource& src, Device d);
  ~PrefetchingBatchSource() override;

  int64_t batches_per_epoch() const override { return src_.batches_per_epoch(); }
  void begin_epoch(int64_t epoch, int64_t start = 0) override;  // drops a staged batch of the previous position
  std::optional<Batch> next() override;                          // stages first when nothing is staged
  // Pulls the next batch and queues its copies (no-op when one is staged or the epoch has ended).
  void stage_next();
  bool has_staged() const { return staged_.has_value(); }
  int64_t batches_staged() const { return batches_staged_; }

 private:
  struct Staged {
    Batch batch;
    // Sparse inputs are rebuilt on the device at next(), after the wait: (coords, feats) of the batch [0] and of its
    // teacher view [1] (undefined when absent).
    std::pair<Tensor, Tensor> inputs[2];
    EventId done = nullptr;
  };
  Tensor stage(const Tensor& t);
  void drop_staged();
  void stage_batch(Batch& b, std::pair<Tensor, Tensor>& input);

  BatchSource& src_;
  std::unique_ptr<TransferModel> own_model_;
  std::unique_ptr<PinnedBlockPool> own_pool_;
  TransferModel& model_;
  PinnedBlockPool& pool_;
  std::optional<Staged> staged_;
  bool ended_ = false;
  int64_t batches_staged_ = 0;
};

}  // namespace leseg::train
