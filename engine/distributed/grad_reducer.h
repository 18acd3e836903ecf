// SPDX-License-Identifier: Apache-2.0
// GradReducer: sums the gradients of a fixed parameter list over the ranks of a communicator.
// Buckets: the parameters in reverse order (the backward produces the last layers' gradients first), grouped by
// (device, dtype) and cut into buckets of at most bucket_bytes; each bucket is one flat buffer and one all-reduce.
// The bucket layout is fixed at construction, identical on every rank, and the buckets are always started in
// bucket order, so the reduction never depends on timing (overlapped or not, the results are the same bits).
// Overlap with the backward (begin() before the last backward of an optimizer step): an autograd observer
// (engine/autograd.h) marks a parameter ready when its gradient is final for that pass; a bucket starts its
// all-reduce (Communicator::all_reduce_start: MPI_Iallreduce on CPU) as soon as it and every bucket before it
// are ready, and outstanding ones are progressed after every backward node. reduce() starts what is left (in
// order), waits for everything, and writes the sums back.
// An undefined gradient counts as zeros; a parameter without a gradient on every rank keeps none (one small
// all-reduce of presence flags per step), so optimizers skip it as they would in one process.
// Gradients end as views of the bucket buffers (the buffers are re-made each step).
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/autograd.h"
#include "engine/distributed/comm.h"
#include "engine/tensor.h"

namespace leseg::dist {

class GradReducer : private BackwardObserver {
 public:
  GradReducer(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes = int64_t(25) << 20);
  ~GradReducer() override;
  // Overlap the next backward on this thread with the all-reduces (until reduce()).
  void begin();
  // Σ over ranks of every parameter's gradient (call after the last backward before an optimizer step).
  void reduce();
  size_t num_buckets() const { return buckets_.size(); }
  int64_t bytes() const { return bytes_; }               // bytes all-reduced per step
  double last_seconds() const { return last_seconds_; }  // wall time of the last reduce() (the exposed part)
  size_t started_in_backward() const { return started_in_backward_; }  // buckets the last step started early

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    int64_t numel = 0;
    DType dtype = DType::f32;
    Device device;
    size_t waiting = 0;  // parameters not ready yet (overlap)
    Tensor flat;
    std::unique_ptr<Work> work;
  };
  void leaf_ready(const TensorImpl* leaf) override;
  void node_done() override;
  void start(Bucket& b);
  void start_ready();
  void end_observing();

  Communicator& comm_;
  std::vector<Tensor> params_;
  std::unordered_map<const TensorImpl*, size_t> index_;  // parameter -> its bucket
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // next bucket to start
  bool observing_ = false;
  BackwardObserver* prev_observer_ = nullptr;
  size_t started_in_backward_ = 0;
  int64_t bytes_ = 0;
  double last_seconds_ = 0.0;
};

}  // namespace leseg::dist
