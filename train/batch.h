// SPDX-License-Identifier: Apache-2.0
// What the Trainer and the regimes read (io/loader's Batch) and where batches come from.
// BatchSource is the seam between the Trainer and a loader: an epoch is a deterministic sequence of
// batches fixed by (seed, epoch); begin_epoch(epoch, start) resumes in the middle of one and yields exactly
// the batches an uninterrupted epoch would have yielded from batch `start` on.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/loader/batch.h"
#include "io/loader/loader.h"

namespace leseg::train {

using Batch = io::loader::Batch;

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t batches_per_epoch() const = 0;
  virtual void begin_epoch(int64_t epoch, int64_t start = 0) = 0;
  virtual std::optional<Batch> next() = 0;
};

// A BatchSource over io/loader's Loader (worker threads, deterministic order, mid-epoch restart).
class LoaderBatchSource : public BatchSource {
 public:
  LoaderBatchSource(std::shared_ptr<const io::loader::SceneSource> scenes, const io::loader::LoaderOptions& opt)
      : loader_(std::move(scenes), opt) {}
  int64_t batches_per_epoch() const override { return loader_.num_batches(); }
  void begin_epoch(int64_t epoch, int64_t start = 0) override { loader_.start_epoch(epoch, start); }
  std::optional<Batch> next() override {
    Batch b;
    if (!loader_.next(b)) return std::nullopt;
    return b;
  }
  int64_t num_scenes() const { return loader_.num_scenes(); }
  io::loader::Loader& loader() { return loader_; }

 private:
  io::loader::Loader loader_;
};

}  // namespace leseg::train
