// SPDX-License-Identifier: Apache-2.0
#include "train/distributed.h"

#include <chrono>
#include <cmath>
#include <set>
#include <sstream>

#include "engine/error.h"

namespace leseg::train {

namespace {
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct Timer {
  double& acc;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  explicit Timer(double& a) : acc(a) {}
  ~Timer() { acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
};
}  // namespace

DataParallel::DataParallel(const DistributedOptions& o, Regime& regime)
    : comm_(o.comm && o.comm->size() > 1 ? o.comm : nullptr), opt_(o), regime_(regime) {
  LESEG_CHECK(o.loss_weighting == "rows" || o.loss_weighting == "equal",
              "config: key 'distributed.loss_weighting' must be rows or equal, got '", o.loss_weighting, "'");
  LESEG_CHECK(o.bucket_mb > 0, "config: key 'distributed.bucket_mb' = ", o.bucket_mb, " must be > 0");
  if (!comm_) return;
  std::vector<Tensor> params;
  std::set<const void*> seen;
  for (auto& slot : regime_.optimizers())
    for (const Tensor& p : slot.params)
      if (seen.insert(p.impl().get()).second) params.push_back(p);
  reducer_ = std::make_unique<dist::GradReducer>(*comm_, params, int64_t(o.bucket_mb * (1 << 20)));
}

void DataParallel::start(const nlohmann::json& config, int64_t batches_per_epoch) {
  if (!comm_) return;
  Timer t(comm_seconds_);
  std::ostringstream fp;
  fp << "world " << comm_->size() << "\nregime " << regime_.name() << "\nbatches/epoch " << batches_per_epoch
     << "\nsync_bn " << opt_.sync_bn << "\noverlap " << opt_.overlap << "\nloss_weighting " << opt_.loss_weighting << "\n";
  for (auto& [name, m] : regime_.modules())
    for (auto& [k, v] : m->state_dict()) fp << name << "." << k << " " << v.shape().str() << " " << dtype_name(v.dtype()) << "\n";
  fp << "config " << (config.contains("yaml") ? config["yaml"].dump() : config.dump()) << "\n";
  const std::vector<uint64_t> all = comm_->all_gather(fnv1a(fp.str()));
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  LESEG_CHECK(differ.empty(), "distributed: rank(s) ", differ, " run a different configuration than rank 0 (config, "
              "overrides, dataset size, model or world size differ): every rank must be started with the same "
              "config and key=value overrides");
  // Rank 0's model state everywhere (identical already when every rank seeded the same way; a resume loads the
  // same checkpoint on every rank).
  for (auto& [name, m] : regime_.modules())
    for (auto& [k, v] : m->state_dict()) {
      Tensor x = v;
      comm_->broadcast(x, 0);
    }
}

DataParallel::Reduced DataParallel::reduce_batch(const Batch& b, double loss, const std::vector<double>& terms) {
  Reduced r;
  r.loss = loss;
  r.terms = terms;
  r.scenes = b.num_scenes;
  r.points = b.num_points();
  if (!comm_) return r;
  Timer t(comm_seconds_);
  const int64_t rows = opt_.loss_weighting == "rows" ? regime_.loss_rows(b) : -1;
  // A regime without rows (or equal weighting) on one rank must not meet rows on another: the flag is reduced too.
  const double n = rows >= 0 ? double(rows) : 1.0;
  std::vector<double> v{n, n * loss};
  for (double x : terms) v.push_back(n * x);
  v.push_back(double(b.num_scenes));
  v.push_back(double(b.num_points()));
  v.push_back(rows >= 0 ? 0.0 : 1.0);
  comm_->all_reduce(v);
  LESEG_CHECK(v.back() == 0.0 || v.back() == double(comm_->size()), "distributed: regime '", regime_.name(),
              "' reports loss rows on some ranks only");
  const double N = v[0];
  r.weight = N > 0 ? n / N : 1.0 / comm_->size();
  r.loss = N > 0 ? v[1] / N : 0.0;
  for (size_t i = 0; i < terms.size(); ++i) r.terms[i] = N > 0 ? v[2 + i] / N : 0.0;
  r.scenes = int64_t(v[2 + terms.size()]);
  r.points = int64_t(v[3 + terms.size()]);
  return r;
}

void DataParallel::before_backward(bool last) {
  if (comm_ && last && opt_.overlap) reducer_->begin();
}

void DataParallel::reduce_gradients() {
  if (!comm_) return;
  Timer t(comm_seconds_);
  reducer_->reduce();
  overlapped_buckets_ += int64_t(reducer_->started_in_backward());
}

void DataParallel::after_step() {
  if (!comm_) return;
  Timer t(comm_seconds_);
  for (auto& [name, m] : regime_.modules())
    for (auto& [k, v] : m->named_buffers()) {
      Tensor x = v;
      comm_->broadcast(x, 0);
    }
}

bool DataParallel::any(bool flag) {
  if (!comm_) return flag;
  Timer t(comm_seconds_);
  std::vector<int64_t> v{flag ? 1 : 0};
  comm_->all_reduce(v, dist::ReduceOp::max);
  return v[0] != 0;
}

ConfusionMatrix DataParallel::reduce(const ConfusionMatrix& cm) {
  if (!comm_) return cm;
  Timer t(comm_seconds_);
  std::vector<int64_t> raw = cm.raw();
  comm_->all_reduce(raw);
  ConfusionMatrix out = cm;
  out.set_raw(raw);
  return out;
}

void DataParallel::inject_fault(int64_t step) const {
  if (comm_) dist::maybe_inject_fault(*comm_, step);
}

}  // namespace leseg::train
