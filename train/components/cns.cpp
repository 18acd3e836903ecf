// SPDX-License-Identifier: Apache-2.0
#include "train/components/cns.h"

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/segment.h"
#include "train/components/common.h"

namespace leseg::train::cns {

Tensor refine_by_masks(const Tensor& labels, const Tensor& mask_ids, int64_t C) {
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
