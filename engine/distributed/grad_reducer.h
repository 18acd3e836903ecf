// SPDX-License-Identifier: Apache-2.0
// GradReducer: sums the gradients of a fixed parameter list over the ranks of a communicator.
// Buckets: the parameters in reverse order (the backward produces the last layers' gradients first), grouped by
// (device, dtype) and cut into buckets of at most bucket_bytes; each bucket is one flat buffer and one all-reduce.
// The bucket layout is fixed at construction, identical on every rank, so the reduction never depends on
// timing. An undefined gradient counts as zeros; a parameter without a gradient on every rank keeps none (one
// small all-reduce of presence flags per step), so optimizers skip it as they would in one process.
// Gradients end as views of the bucket buffers (the buffers are re-made each step).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/distributed/comm.h"
#include "engine/tensor.h"

namespace leseg::dist {

class GradReducer {
 public:
  GradReducer(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes = int64_t(25) << 20);
  // Σ over ranks of every parameter's gradient (call after the last backward before an optimizer step).
  void reduce();
  size_t num_buckets() const { return buckets_.size(); }
  int64_t bytes() const { return bytes_; }  // bytes all-reduced per step
  double last_seconds() const { return last_seconds_; }  // wall time of the last reduce()

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    int64_t numel = 0;
    DType dtype = DType::f32;
    Device device;
  };
  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  int64_t bytes_ = 0;
  double last_seconds_ = 0.0;
};

}  // namespace leseg::dist
