// SPDX-License-Identifier: Apache-2.0
#include "engine/distributed/grad_reducer.h"

#include <chrono>
#include <set>

#include "engine/autograd.h"
#include "engine/error.h"

namespace leseg::dist {

GradReducer::GradReducer(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  LESEG_CHECK(bucket_bytes > 0, "GradReducer: bucket size ", bucket_bytes, " must be > 0");
  std::set<const void*> seen;
  for (const Tensor& p : params_) {
    LESEG_CHECK(p.defined(), "GradReducer: undefined parameter");
    LESEG_CHECK(seen.insert(p.impl().get()).second, "GradReducer: a parameter is listed twice");
  }
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    Bucket* b = nullptr;
    for (auto it = buckets_.rbegin(); it != buckets_.rend(); ++it)  // open bucket of this (device, dtype)
      if (it->dtype == p.dtype() && it->device == p.device()) {
        b = &*it;
        break;
      }
    if (!b || (b->numel > 0 && (b->numel + p.numel()) * int64_t(dtype_size(p.dtype())) > bucket_bytes)) {
      buckets_.push_back(Bucket{{}, {}, 0, p.dtype(), p.device()});
      b = &buckets_.back();
    }
    b->params.push_back(k);
    b->offsets.push_back(b->numel);
    b->numel += p.numel();
    bytes_ += p.numel() * int64_t(dtype_size(p.dtype()));
  }
}

void GradReducer::reduce() {
  const auto t0 = std::chrono::steady_clock::now();
  NoGradGuard ng;
  std::vector<int64_t> has(params_.size());
  for (size_t k = 0; k < params_.size(); ++k) has[k] = params_[k].grad().defined() ? 1 : 0;
  if (comm_.size() > 1) comm_.all_reduce(has, ReduceOp::max);
  for (Bucket& b : buckets_) {
    Tensor flat = Tensor::zeros(Shape{b.numel}, b.dtype, b.device);
    for (size_t i = 0; i < b.params.size(); ++i) {
      const Tensor& p = params_[b.params[i]];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      LESEG_CHECK(g.dtype() == b.dtype && g.device() == b.device && g.numel() == p.numel(), "GradReducer: gradient of a ",
                  p.shape().str(), " parameter is ", g.shape().str(), " ", dtype_name(g.dtype()), " on ", g.device().str());
      flat.narrow(b.offsets[i], p.numel()).copy_(g.reshape(Shape{p.numel()}));
    }
    comm_.all_reduce(flat, ReduceOp::sum);
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor p = params_[b.params[i]];
      if (!has[b.params[i]]) continue;
      p.set_grad(flat.narrow(b.offsets[i], p.numel()).reshape(p.shape()));
    }
  }
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace leseg::dist
