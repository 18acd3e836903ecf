// SPDX-License-Identifier: Apache-2.0
// SparseTensor: coordinates (N, 4) i32 rows (batch, x, y, z) at a tensor stride, features (N, C), and the
// CoordinateManager shared along the network (coordinate sets, hash tables, kernel-map cache).
// Invariants: coordinates are unique; feats rows match coords rows; coords, feats and the manager live on one
// device. BatchNorm / ReLU / Linear act on feats(): x.with_feats(relu(x.feats())) keeps the coordinates.
#pragma once
#include <memory>

#include "engine/sparse/coordinate_manager.h"
#include "engine/tensor.h"

namespace leseg {

class SparseTensor {
 public:
  SparseTensor() = default;
  // New network input: builds a manager (num_batches = max batch + 1 unless given) and registers coords
  // (unique, stride 1 unless given). feats: (N, C) on the device of coords.
  SparseTensor(const Tensor& coords, const Tensor& feats, int32_t stride = 1, int64_t num_batches = -1);
  // A tensor on an existing coordinate set of `manager`.
  SparseTensor(std::shared_ptr<const CoordinateSet> set, const Tensor& feats, std::shared_ptr<CoordinateManager> manager);

  const Tensor& coords() const { return set_->coords; }
  const Tensor& feats() const { return feats_; }
  int32_t stride() const { return set_->stride; }
  int64_t size() const { return feats_.size(0); }
  int64_t channels() const { return feats_.size(1); }
  int64_t num_batches() const { return manager_->num_batches(); }
  Device device() const { return feats_.device(); }
  const std::shared_ptr<CoordinateManager>& manager() const { return manager_; }
  const std::shared_ptr<const CoordinateSet>& coordinate_set() const { return set_; }
  bool defined() const { return set_ != nullptr; }

  // Same coordinates, new features (N, C') (e.g. after batch_norm / relu).
  SparseTensor with_feats(const Tensor& new_feats) const;

 private:
  std::shared_ptr<const CoordinateSet> set_;
  Tensor feats_;
  std::shared_ptr<CoordinateManager> manager_;
};

}  // namespace leseg
