// SPDX-License-Identifier: Apache-2.0
#include "train/components/hicl.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/segment.h"
#include "train/components/common.h"

namespace leseg::train::hicl {
namespace {

std::vector<int64_t> host_i64(const Tensor& t) { return t.to(Device::cpu()).to_vector<int64_t>(); }

void check_1d_int(const Tensor& t, int64_t N, const char* op, const char* what) {
  LESEG_CHECK(t.defined() && t.ndim() == 1 && (t.dtype() == DType::i32 || t.dtype() == DType::i64), op, ": ", what,
              " must be a 1-D i32/i64 tensor");
  LESEG_CHECK(N < 0 || t.size(0) == N, op, ": ", what, " has ", t.size(0), " rows, expected ", N);
}

// Sampling inside one scene: host vectors in, sorted local indices out.
std::vector<int64_t> sample_local(const std::vector<int64_t>& sets, const std::vector<int64_t>& labels, int64_t M,
                                  Generator& gen) {
  std::vector<int64_t> ids;  // pool key per labelled point: set id, or a key below every set id for "no set"
  std::vector<int64_t> pts;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) continue;
    pts.push_back(int64_t(i));
    ids.push_back(sets[i] < 0 ? -1 : sets[i]);
  }
  std::vector<int64_t> keys = ids;
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::vector<int64_t>> pools(keys.size());
  for (size_t j = 0; j < pts.size(); ++j)
    pools[size_t(std::lower_bound(keys.begin(), keys.end(), ids[j]) - keys.begin())].push_back(pts[j]);
  std::vector<int64_t> sizes(pools.size());
  for (size_t k = 0; k < pools.size(); ++k) sizes[k] = int64_t(pools[k].size());
  std::vector<int64_t> counts = proportional_counts(sizes, M);
  std::vector<int64_t> out;
  for (size_t k = 0; k < pools.size(); ++k) {
    if (counts[k] == 0) continue;
    if (counts[k] == sizes[k]) {
      out.insert(out.end(), pools[k].begin(), pools[k].end());
      continue;
    }
    std::vector<int64_t> perm = randperm(sizes[k], gen).to_vector<int64_t>();
    for (int64_t j = 0; j < counts[k]; ++j) out.push_back(pools[k][size_t(perm[size_t(j)])]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Tensor refine_by_sets(const Tensor& labels, const Tensor& sets, int64_t C, bool propagate) {
  check_1d_int(labels, -1, "hicl::refine_by_sets", "labels");
  check_1d_int(sets, labels.size(0), "hicl::refine_by_sets", "sets");
  LESEG_CHECK(C > 0, "hicl::refine_by_sets: num_classes must be > 0, got ", C);
  const Device dev = labels.device();
  const int64_t N = labels.size(0);
  CompactGroups g = compact_nonnegative(sets);
  Tensor lab64 = labels.dtype() == DType::i64 ? labels : labels.to(DType::i64);
  if (g.num_groups == 0) return lab64.clone();
  VoteResult r = vote_mode(g.group.to(dev), lab64, g.num_groups, C, -1);
  std::vector<int64_t> mode = host_i64(r.point_mode), lab = host_i64(lab64), grp = g.group.to_vector<int64_t>();
  std::vector<int64_t> out(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    const size_t u = size_t(i);
    if (grp[u] < 0 || mode[u] < 0) out[u] = lab[u];          // no set, or a set without any vote
    else out[u] = (lab[u] >= 0 || propagate) ? mode[u] : -1;  // unlabelled points stay so unless propagate
  }
  return Tensor::from_vector(out, Shape{N}, dev);
}

std::vector<int64_t> proportional_counts(const std::vector<int64_t>& sizes, int64_t M) {
  LESEG_CHECK(M >= 0, "hicl::proportional_counts: M must be >= 0, got ", M);
  int64_t N = 0;
  for (int64_t s : sizes) {
    LESEG_CHECK(s >= 0, "hicl::proportional_counts: negative set size ", s);
    N += s;
  }
  if (N <= M) return sizes;
  std::vector<int64_t> out(sizes.size());
  std::vector<std::pair<int64_t, size_t>> rem;  // (remainder numerator M·N_i mod N, set index)
  int64_t given = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const __int128 prod = __int128(M) * sizes[i];
    out[i] = int64_t(prod / N);
    rem.emplace_back(int64_t(prod % N), i);
    given += out[i];
  }
  std::stable_sort(rem.begin(), rem.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int64_t k = 0; k < M - given; ++k) out[rem[size_t(k)].second] += 1;
  return out;
}

Tensor sample_scene(const Tensor& sets, const Tensor& labels, int64_t M, Generator& gen) {
  check_1d_int(labels, -1, "hicl::sample_scene", "labels");
  check_1d_int(sets, labels.size(0), "hicl::sample_scene", "sets");
  LESEG_CHECK(M >= 0, "hicl::sample_scene: M must be >= 0, got ", M);
  std::vector<int64_t> out = sample_local(host_i64(sets), host_i64(labels), M, gen);
  return Tensor::from_vector(out, Shape{int64_t(out.size())}, labels.device());
}

PackedSamples sample_batch(const Tensor& sets, const Tensor& labels, const Tensor& scene_offsets, int64_t M,
                           Generator& gen) {
  check_1d_int(labels, -1, "hicl::sample_batch", "labels");
  check_1d_int(sets, labels.size(0), "hicl::sample_batch", "sets");
  check_1d_int(scene_offsets, -1, "hicl::sample_batch", "scene_offsets");
  std::vector<int64_t> off = host_i64(scene_offsets), s = host_i64(sets), l = host_i64(labels);
  LESEG_CHECK(!off.empty() && off.front() == 0 && off.back() == labels.size(0), "hicl::sample_batch: scene offsets must run from 0 to N = ",
              labels.size(0));
  std::vector<int64_t> index, cu{0};
  for (size_t b = 0; b + 1 < off.size(); ++b) {
    LESEG_CHECK(off[b] <= off[b + 1], "hicl::sample_batch: scene offsets decrease at scene ", b);
    std::vector<int64_t> ss(s.begin() + off[b], s.begin() + off[b + 1]), ll(l.begin() + off[b], l.begin() + off[b + 1]);
    for (int64_t i : sample_local(ss, ll, M, gen)) index.push_back(off[b] + i);
    cu.push_back(int64_t(index.size()));
  }
  const Device dev = labels.device();
  const int64_t S = int64_t(index.size());
  return {Tensor::from_vector(index, Shape{S}, dev), Tensor::from_vector(cu, Shape{int64_t(cu.size())}, dev),
          Tensor::from_vector(std::vector<int64_t>{0, S}, Shape{2}, dev)};
}

Tensor feedback_kl(const Tensor& student_logits, const Tensor& teacher_logits, double T) {
  LESEG_CHECK(T > 0.0, "hicl::feedback_kl: temperature must be > 0, got ", T);
  return kl_div(teacher_logits.detach(), student_logits, T, KLDirection::PQ, KLReduction::BatchMean);
}

Tensor aggregate_logits(const Tensor& intra, const Tensor& inter) {
  LESEG_CHECK(intra.defined() || inter.defined(), "hicl::aggregate_logits: both inputs undefined");
  if (!intra.defined()) return inter;
  if (!inter.defined()) return intra;
  LESEG_CHECK(intra.shape() == inter.shape(), "hicl::aggregate_logits: shapes differ: ", intra.shape().str(), " vs ",
              inter.shape().str());
  return mul(add(intra, inter), 0.5);
}

Stage StageSchedule::at(int epoch) const {
  LESEG_CHECK(epoch >= 0, "hicl::StageSchedule: epoch ", epoch, " < 0");
  Stage s;
  const bool transformers = epoch >= intra_from;
  s.intra = transformers && use_intra_scene;
  s.inter = transformers && use_inter_scene;
  s.kl = epoch >= kl_from && use_feedback && s.transformers();
  return s;
}

DelayedLR::DelayedLR(Optimizer& opt, std::unique_ptr<LRScheduler> inner, int64_t delay)
    : LRScheduler(opt), inner_(std::move(inner)), delay_(delay) {
  LESEG_CHECK(inner_ && delay_ >= 0, "hicl::DelayedLR: needs a scheduler and a delay >= 0, got ", delay_);
  apply();
}

double DelayedLR::lr_at(double base_lr, int64_t t) const { return inner_->lr_at(base_lr, std::max<int64_t>(0, t - delay_)); }

}  // namespace leseg::train::hicl
