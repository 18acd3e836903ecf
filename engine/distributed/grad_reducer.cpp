// SPDX-License-Identifier: Apache-2.0
#include "engine/distributed/grad_reducer.h"

#include <chrono>
#include <set>

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
      buckets_.emplace_back();
      buckets_.back().dtype = p.dtype();
      buckets_.back().device = p.device();
      b = &buckets_.back();
    }
    b->params.push_back(k);
    b->offsets.push_back(b->numel);
    b->numel += p.numel();
    bytes_ += p.numel() * int64_t(dtype_size(p.dtype()));
  }
  for (size_t i = 0; i < buckets_.size(); ++i)
    for (size_t k : buckets_[i].params) index_[params_[k].impl().get()] = i;
}

GradReducer::~GradReducer() { end_observing(); }

void GradReducer::end_observing() {
  if (observing_ && backward_observer() == this) set_backward_observer(prev_observer_);
  observing_ = false;
}

void GradReducer::begin() {
  LESEG_CHECK(!observing_ && next_ == 0, "GradReducer::begin: the previous step was not reduced");
  for (Bucket& b : buckets_) b.waiting = b.params.size();
  started_in_backward_ = 0;
  prev_observer_ = backward_observer();
  set_backward_observer(this);
  observing_ = true;
}

void GradReducer::start(Bucket& b) {
  NoGradGuard ng;
  b.flat = Tensor::zeros(Shape{b.numel}, b.dtype, b.device);
  for (size_t i = 0; i < b.params.size(); ++i) {
    const Tensor& p = params_[b.params[i]];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    LESEG_CHECK(g.dtype() == b.dtype && g.device() == b.device && g.numel() == p.numel(), "GradReducer: gradient of a ",
                p.shape().str(), " parameter is ", g.shape().str(), " ", dtype_name(g.dtype()), " on ", g.device().str());
    b.flat.narrow(b.offsets[i], p.numel()).copy_(g.reshape(Shape{p.numel()}));
  }
  b.work = comm_.all_reduce_start(b.flat, ReduceOp::sum);
}

void GradReducer::start_ready() {
  while (next_ < buckets_.size() && buckets_[next_].waiting == 0) {
    start(buckets_[next_++]);
    ++started_in_backward_;
  }
}

void GradReducer::leaf_ready(const TensorImpl* leaf) {
  auto it = index_.find(leaf);
  if (it == index_.end()) return;  // not one of ours (e.g. a frozen network's input)
  Bucket& b = buckets_[it->second];
  if (b.waiting > 0) --b.waiting;
  start_ready();
}

void GradReducer::node_done() {
  for (size_t i = 0; i < next_; ++i)
    if (buckets_[i].work) buckets_[i].work->test();
}

void GradReducer::reduce() {
  const auto t0 = std::chrono::steady_clock::now();
  end_observing();
  NoGradGuard ng;
  while (next_ < buckets_.size()) start(buckets_[next_++]);  // the rest, in bucket order
  for (Bucket& b : buckets_) b.work->wait();
  std::vector<int64_t> has(params_.size());
  for (size_t k = 0; k < params_.size(); ++k) has[k] = params_[k].grad().defined() ? 1 : 0;
  if (comm_.size() > 1) comm_.all_reduce(has, ReduceOp::max);
  for (Bucket& b : buckets_) {
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor p = params_[b.params[i]];
      if (has[b.params[i]]) p.set_grad(b.flat.narrow(b.offsets[i], p.numel()).reshape(p.shape()));
    }
    b.work.reset();
    b.flat = Tensor();
  }
  next_ = 0;
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace leseg::dist
