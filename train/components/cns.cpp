// SPDX-License-Identifier: Apache-2.0
#include "train/components/cns.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/segment.h"
#include "engine/ops/shape_ops.h"
#include "train/components/common.h"

namespace leseg::train::cns {

Tensor refine_by_masks(const Tensor& labels, const Tensor& mask_ids, int64_t C, int64_t num_masks) {
  LESEG_CHECK(labels.defined() && mask_ids.defined(), "cns::refine_by_masks: undefined input");
  LESEG_CHECK((labels.dtype() == DType::i32 || labels.dtype() == DType::i64) &&
                  (mask_ids.dtype() == DType::i32 || mask_ids.dtype() == DType::i64),
              "cns::refine_by_masks: labels and mask ids must be i32/i64, got ", dtype_name(labels.dtype()), " and ",
              dtype_name(mask_ids.dtype()));
  LESEG_CHECK(labels.shape() == mask_ids.shape(), "cns::refine_by_masks: labels ", labels.shape().str(),
              " and mask ids ", mask_ids.shape().str(), " differ in shape");
  LESEG_CHECK(C > 0, "cns::refine_by_masks: num_classes must be > 0, got ", C);
  const Device dev = labels.device();
  const int64_t n = labels.numel();
  Tensor lab = (labels.dtype() == DType::i64 ? labels : labels.to(DType::i64)).reshape(Shape{n});
  if (num_masks >= 0) {  // ids in [-1, num_masks): vote on the device, no compaction, no read
    LESEG_CHECK(mask_ids.device() == dev, "cns::refine_by_masks: labels on ", dev.str(), ", mask ids on ",
                mask_ids.device().str());
    if (num_masks == 0 || n == 0) return lab.clone().reshape(labels.shape());
    Tensor ids = (mask_ids.dtype() == DType::i64 ? mask_ids : mask_ids.to(DType::i64)).reshape(Shape{n});
    VoteResult r;
    try {
      r = vote_mode(ids, lab, num_masks, C, -1);
    } catch (const std::invalid_argument& e) {  // the CPU kernels' range checks
      LESEG_FAIL("cns::refine_by_masks: ", e.what(), " (", C, " classes, ", num_masks, " masks)");
    }
    // The selection in f64 (where and the gathers are float ops; class ids are exact there).
    return where(ge(ids, 0.0), r.point_mode.to(DType::f64), lab.to(DType::f64)).to(DType::i64).reshape(labels.shape());
  }
  std::vector<int64_t> lv = lab.to(Device::cpu()).to_vector<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    LESEG_CHECK(lv[size_t(i)] < C, "cns::refine_by_masks: label ", lv[size_t(i)], " at element ", i, " >= ", C,
                " classes");
  CompactGroups g = compact_nonnegative(mask_ids.reshape(Shape{n}));
  if (g.num_groups == 0) return lab.clone().reshape(labels.shape());
  VoteResult r = vote_mode(g.group.to(dev), lab, g.num_groups, C, -1);
  std::vector<int64_t> mode = r.point_mode.to(Device::cpu()).to_vector<int64_t>(), grp = g.group.to_vector<int64_t>();
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = grp[size_t(i)] < 0 ? lv[size_t(i)] : mode[size_t(i)];
  return Tensor::from_vector(out, labels.shape(), dev);
}

Tensor to_points(int64_t num_points, const std::vector<Tensor>& pairs, const std::vector<Tensor>& refined, int64_t C) {
  return project_pixel_labels(num_points, pairs, refined, C, ViewReduce::mode);
}

namespace {
std::vector<int64_t> host_labels(const Tensor& t) {
  return (t.dtype() == DType::i64 ? t : t.to(DType::i64)).to(Device::cpu()).to_vector<int64_t>();
}
}  // namespace

void to_device(PairIndex& p, Device dev) {
  const int64_t P = int64_t(p.point.size()), hw = p.H * p.W;
  std::vector<int64_t> flat(static_cast<size_t>(P));
  std::vector<double> rank(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) {
    flat[size_t(i)] = p.view[size_t(i)] * hw + p.pixel[size_t(i)];
    rank[size_t(i)] = double(P - i);
  }
  p.d_point = Tensor::from_vector(p.point, Shape{P}, dev);
  p.d_flat = Tensor::from_vector(flat, Shape{P}, dev);
  p.d_rank = Tensor::from_vector(rank, Shape{P}, dev);
}

Tensor pixels_to_points(const Tensor& pix, const PairIndex& p, int64_t C) {
  const int64_t hw = p.H * p.W;
  LESEG_CHECK(pix.defined() && pix.numel() == p.V * hw, "cns::pixels_to_points: pixel map of ",
              pix.defined() ? pix.numel() : 0, " entries for ", p.V, " views of ", p.H, "x", p.W);
  if (p.d_point.defined()) {
    // On the pairs' device: every pair votes its pixel's label for its point (the same counts as the per-view host
    // path below, so the same mode and ties).
    const Device dev = p.d_point.device();
    if (p.point.empty()) return Tensor::full(Shape{p.N}, -1.0, DType::i64, dev);
    const Tensor lab = (pix.dtype() == DType::i64 ? pix : pix.to(DType::i64)).reshape(Shape{p.V * hw}).to(dev);
    try {
      const Tensor at_pairs = index_select(lab.to(DType::f64), 0, p.d_flat).to(DType::i64);  // exact in f64
      return vote_mode(p.d_point, at_pairs, p.N, C, -1).group_mode;
    } catch (const std::invalid_argument& e) {  // the CPU kernels' range checks
      LESEG_FAIL("cns::pixels_to_points: ", e.what(), " (", C, " classes)");
    }
  }
  const std::vector<int64_t> all = host_labels(pix);
  std::vector<std::vector<int64_t>> per(size_t(p.V));
  for (size_t i = 0; i < p.point.size(); ++i) {
    per[size_t(p.view[i])].push_back(p.point[i]);
    per[size_t(p.view[i])].push_back(p.pixel[i]);
  }
  std::vector<Tensor> pairs, maps;
  for (int64_t k = 0; k < p.V; ++k) {
    pairs.push_back(Tensor::from_vector(per[size_t(k)], Shape{int64_t(per[size_t(k)].size() / 2), 2}));
    maps.push_back(Tensor::from_vector(std::vector<int64_t>(all.begin() + k * hw, all.begin() + (k + 1) * hw), Shape{hw}));
  }
  return to_points(p.N, pairs, maps, C);
}

Tensor points_to_pixels(const Tensor& pts, const PairIndex& p) {
  LESEG_CHECK(pts.defined() && pts.numel() == p.N, "cns::points_to_pixels: ", pts.defined() ? pts.numel() : 0,
              " point labels for ", p.N, " points");
  if (p.d_point.defined()) {
    // On the pairs' device, as the host loop below: each pixel takes the label of its first pair whose point is
    // labelled. Per pixel the maximum of P − i over such pairs (0: none) names that pair. In f64 (exact here).
    const Device dev = p.d_point.device();
    const int64_t P = int64_t(p.point.size()), VHW = p.V * p.H * p.W;
    if (P == 0) return Tensor::full(Shape{VHW}, -1.0, DType::i64, dev);
    const Tensor lab = (pts.dtype() == DType::i64 ? pts : pts.to(DType::i64)).reshape(Shape{p.N}).to(dev);
    const Tensor at_pair = index_select(lab.to(DType::f64), 0, p.d_point);  // (P,)
    const Tensor zero = Tensor::zeros(Shape{}, DType::f64, dev);
    const Tensor key = segment_max(where(ge(at_pair, 0.0), p.d_rank, zero), p.d_flat, VHW);  // (VHW,)
    const Tensor has = gt(key, 0.0);
    const Tensor first = where(has, sub(double(P), key), zero).to(DType::i64);  // the pair, 0 where none
    return where(has, index_select(at_pair, 0, first), Tensor::full(Shape{}, -1.0, DType::f64, dev)).to(DType::i64);
  }
  const std::vector<int64_t> lab = host_labels(pts);
  std::vector<int64_t> out(size_t(p.V * p.H * p.W), -1);
  for (size_t i = 0; i < p.point.size(); ++i) {
    int64_t& o = out[size_t(p.view[i] * p.H * p.W + p.pixel[i])];
    if (o < 0) o = lab[size_t(p.point[i])];
  }
  return Tensor::from_vector(out, Shape{p.V * p.H * p.W});
}

namespace {
const Tensor& source_map(LabelSource s, const SourceMaps& src) {
  const Tensor& t = s == LabelSource::clip_2d ? src.clip2
                    : s == LabelSource::pred_2d ? src.pred2
                    : s == LabelSource::clip_3d ? src.clip3
                                                : src.pred3;
  LESEG_CHECK(t.defined(), "cns: label source ", label_source_name(s), " was not computed for this batch");
  return t;
}
}  // namespace

Tensor pixel_target(LabelSource s, const SourceMaps& src, const PairIndex& p, int64_t) {
  const Tensor& t = source_map(s, src);
  if (s == LabelSource::clip_2d || s == LabelSource::pred_2d)
    return (t.dtype() == DType::i64 ? t : t.to(DType::i64)).reshape(Shape{p.V * p.H * p.W});
  return points_to_pixels(t, p);
}

Tensor point_target(LabelSource s, const SourceMaps& src, const PairIndex& p, int64_t C) {
  const Tensor& t = source_map(s, src);
  if (s == LabelSource::clip_3d || s == LabelSource::pred_3d)
    return (t.dtype() == DType::i64 ? t : t.to(DType::i64)).reshape(Shape{p.N});
  return pixels_to_points(t, p, C);
}

Tensor shuffle_labels(const Tensor& labels, uint64_t seed) {
  std::vector<int64_t> v = host_labels(labels);
  std::vector<size_t> idx;
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] >= 0) idx.push_back(i);
  std::mt19937_64 rng(seed);
  for (size_t i = idx.size(); i > 1; --i) {
    const size_t j = size_t(std::uniform_int_distribution<uint64_t>(0, i - 1)(rng));
    std::swap(v[idx[i - 1]], v[idx[j]]);
  }
  return Tensor::from_vector(v, labels.shape());
}

Tensor random_labels(const Tensor& labels, int64_t C, uint64_t seed) {
  LESEG_CHECK(C > 0, "cns::random_labels: num_classes must be > 0, got ", C);
  // The k-th labelled entry (in index order) takes the k-th class drawn from `seed`. Which entries are labelled is
  // the networks' business (device data), so the draws are made for every entry on the host (drawing more does not
  // change the first ones) and each labelled entry picks its own by its rank among the labelled: an exclusive
  // prefix sum of the mask on the labels' device. Nothing is read back.
  const int64_t n = labels.numel();
  std::vector<int64_t> draws(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> cls(0, C - 1);
  for (auto& d : draws) d = cls(rng);
  if (n == 0) return labels.to(DType::i64);
  NoGradGuard ng;
  const Tensor flat = labels.to(DType::i64).reshape(Shape{n});
  const Tensor labelled = ge(flat, 0.0);
  const Tensor rank = cumsum(labelled, /*exclusive=*/true);  // in [0, n)
  const Tensor drawn = index_select(Tensor::from_vector(draws, Shape{n}, labels.device()), 0, rank);
  // where is a float op: class ids and labels are small integers, exact in f64.
  return where(labelled, drawn.to(DType::f64), flat.to(DType::f64)).to(DType::i64).reshape(labels.shape());
}

const char* label_source_name(LabelSource s) {
  switch (s) {
    case LabelSource::clip_2d: return "clip_2d";
    case LabelSource::clip_3d: return "clip_3d";
    case LabelSource::pred_2d: return "pred_2d";
    case LabelSource::pred_3d: return "pred_3d";
  }
  return "?";
}

LabelSourceSampler LabelSourceSampler::without_clip() {
  LabelSourceSampler s;
  s.use_clip_2d = s.use_clip_3d = false;
  return s;
}

std::vector<LabelSource> LabelSourceSampler::enabled() const {
  std::vector<LabelSource> out;
  if (use_clip_2d) out.push_back(LabelSource::clip_2d);
  if (use_clip_3d) out.push_back(LabelSource::clip_3d);
  if (use_pred_2d) out.push_back(LabelSource::pred_2d);
  if (use_pred_3d) out.push_back(LabelSource::pred_3d);
  return out;
}

LabelSource LabelSourceSampler::draw(int epoch, bool for_3d, Generator& gen) const {
  if (epoch < warmup_epochs) return for_3d ? LabelSource::clip_3d : LabelSource::clip_2d;
  std::vector<LabelSource> e = enabled();
  LESEG_CHECK(!e.empty(), "cns::LabelSourceSampler: every label source is disabled");
  HostMemoryRead host;  // a draw from the host generator into host memory: not a device read
  const double u = rand(Shape{1}, gen, DType::f64).item<double>();
  size_t k = size_t(u * double(e.size()));
  if (k >= e.size()) k = e.size() - 1;
  return e[k];
}

LatentConsistency::LatentConsistency(const LatentConsistencyOptions& o, Generator& gen) {
  theta = register_module("theta", std::make_shared<Linear>(o.dim_2d, o.latent, true, gen, o.dtype));
  phi_3d = register_module("phi_3d", std::make_shared<Linear>(o.dim_3d, o.latent, true, gen, o.dtype));
  phi_target = register_module("phi_target", std::make_shared<Linear>(o.dim_target, o.latent, true, gen, o.dtype));
  if (!o.train_target_head)
    for (Tensor& t : phi_target->parameters()) t.requires_grad_(false);
}

std::vector<Tensor> LatentConsistency::trainable_parameters() const {
  std::vector<Tensor> out;
  for (const Tensor& t : parameters())
    if (t.requires_grad()) out.push_back(t);
  return out;
}

LatentConsistencyLoss LatentConsistency::loss(const Tensor& x, const Tensor& p, const Tensor& s) {
  LESEG_CHECK(x.defined() && p.defined() && s.defined() && x.ndim() == 2 && p.ndim() == 2 && s.ndim() == 2 &&
                  x.size(0) == p.size(0) && x.size(0) == s.size(0),
              "cns::LatentConsistency: x (P, F2), p (P, F3), s (P, Fs) with one P expected");
  Tensor target = l2_normalize(phi_target->forward(s.detach()), -1);  // φ(s)/‖φ(s)‖, frozen input
  LatentConsistencyLoss out;
  out.term_2d = cosine_embedding_loss(theta->forward(x), target);
  out.term_3d = cosine_embedding_loss(phi_3d->forward(p), target);
  out.total = out.term_2d + out.term_3d;
  return out;
}

}  // namespace leseg::train::cns
