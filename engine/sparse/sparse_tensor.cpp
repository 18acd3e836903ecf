// SPDX-License-Identifier: Apache-2.0
#include "engine/sparse/sparse_tensor.h"

#include <algorithm>

namespace leseg {

namespace {
void check_feats(const Tensor& feats, int64_t rows, Device d, const char* what) {
  LESEG_CHECK(feats.defined() && feats.ndim() == 2, what, ": features must be (N, C), got ",
              feats.defined() ? feats.str() : std::string("undefined"));
  LESEG_CHECK(feats.size(0) == rows, what, ": ", feats.size(0), " feature rows for ", rows, " coordinates");
  LESEG_CHECK(feats.device() == d, what, ": features on ", feats.device().str(), ", coordinates on ", d.str());
}
}  // namespace

SparseTensor::SparseTensor(const Tensor& coords, const Tensor& feats, int32_t stride, int64_t num_batches) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 4 && coords.dtype() == DType::i32,
              "SparseTensor: coordinates must be (N, 4) i32 rows (batch, x, y, z), got ",
              coords.defined() ? coords.str() : std::string("undefined"));
  if (num_batches < 0) {
    int32_t mx = -1;
    const auto host = coords.to_vector<int32_t>();
    for (size_t i = 0; i < host.size(); i += 4) {
      LESEG_CHECK(host[i] >= 0, "SparseTensor: row ", i / 4, " has negative batch index ", host[i]);
      mx = std::max(mx, host[i]);
    }
    num_batches = std::max<int64_t>(1, int64_t(mx) + 1);
  }
  manager_ = std::make_shared<CoordinateManager>(coords.device(), num_batches);
  set_ = manager_->insert(coords, stride);
  check_feats(feats, coords.size(0), coords.device(), "SparseTensor");
  feats_ = feats;
}

SparseTensor::SparseTensor(std::shared_ptr<const CoordinateSet> set, const Tensor& feats,
                           std::shared_ptr<CoordinateManager> manager)
    : set_(std::move(set)), feats_(feats), manager_(std::move(manager)) {
  LESEG_CHECK(set_ && manager_, "SparseTensor: null coordinate set or manager");
  check_feats(feats_, set_->size(), manager_->device(), "SparseTensor");
}

SparseTensor SparseTensor::with_feats(const Tensor& new_feats) const {
  LESEG_CHECK(defined(), "SparseTensor::with_feats on an empty SparseTensor");
  return SparseTensor(set_, new_feats, manager_);
}

}  // namespace leseg
