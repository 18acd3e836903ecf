// SPDX-License-Identifier: Apache-2.0
#include "train/regimes/label_free.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"

namespace leseg::train::label_free {

void LabelFreeRegime::build_base(const Config& cfg, const BuildContext& ctx) {
  device_ = ctx.device;
  // The class text embeddings of the dataset (<data.root>/text_embeddings.npy, handed over by the job).
  const Tensor& T = ctx.text_embeddings;
  LESEG_CHECK(T.defined(), name(), ": the dataset has no text embeddings (text_embeddings.npy): label-free "
              "regimes classify against the class text embeddings");
  LESEG_CHECK(T.ndim() == 2 && T.size(0) >= 1 && (ctx.num_classes == 0 || ctx.num_classes == T.size(0)), name(),
              ": text embeddings ", T.shape().str(), " do not match the run's ", ctx.num_classes, " classes");
  models::TextLogitOptions to;
  to.temperature = cfg.get<double>("loss.temperature", 1.0);
  LESEG_CHECK(to.temperature > 0.0, "config: key 'loss.temperature' must be > 0, got ", to.temperature);
  text_ = std::make_shared<models::TextLogitHead>(T.to(DType::f32), to);
  const int64_t D = text_->text_embeddings().size(1);

  backbone_ = backbone_from_config(cfg, ctx, name());
  Generator gen(ctx.seed, 0x11f3);
  final_ = std::make_shared<models::ProjectionHead>(backbone_.out_channels, D, true, gen);
  spatial_ = cfg.get<bool>("loss.spatial", false);
  spatial_weight_ = cfg.get<double>("loss.spatial_weight", 1.0);
  ce_weight_ = cfg.get<double>("loss.ce_weight", 1.0);
  if (spatial_) {
    spatial_target_ = cfg.get<std::string>("loss.spatial_target", "clip");
    LESEG_CHECK(spatial_target_ == "clip" || spatial_target_ == "sam", "config: key 'loss.spatial_target' must be clip "
                "or sam, got '", spatial_target_, "'");
    int64_t F = 0;
    if (spatial_target_ == "sam") {
      F = cfg.get<int64_t>("loss.spatial_dim");  // = the SAM feature width of the dataset
    } else {
      F = cfg.get<int64_t>("loss.spatial_dim", D);
      const std::string proj = cfg.get<std::string>("loss.spatial_projection", "random");
      LESEG_CHECK(proj == "random" || proj == "none", "config: key 'loss.spatial_projection' must be random or none, "
                  "got '", proj, "'");
      if (proj == "random") {
        // image_mapping_local: PyTorch's default 1x1-conv init U(−1/√D, 1/√D), frozen (never trained, not saved:
        // drawn again from the run seed).
        const double a = 1.0 / std::sqrt(double(D));
        spatial_projection_ =
            (Tensor::rand(Shape{D, F}, ctx.seed, 0x1a6e10ca1ull) * (2.0 * a) - a).to(device_).detach();
      } else {
        LESEG_CHECK(F == D, "config: loss.spatial_projection: none needs loss.spatial_dim = the text width ", D,
                    ", got ", F);
      }
    }
    LESEG_CHECK(F > 0, "config: key 'loss.spatial_dim' must be > 0");
    local_ = std::make_shared<models::ProjectionHead>(backbone_.out_channels, F, true, gen);
  }
  switch_.enabled = cfg.get<bool>("self_training.enabled", true);
  switch_.start_epoch = cfg.get<int>("self_training.start", 10);
  switch_.probability = cfg.get<double>("self_training.p", 0.5);
  LESEG_CHECK(switch_.probability >= 0.0 && switch_.probability <= 1.0, "config: key 'self_training.p' must be in [0, 1]");
  switch_gen_ = Generator(ctx.seed, 0x5e1f);
  label_source_ = controls::label_source_from_config(cfg);
  control_gen_ = Generator(ctx.seed, 0xc0a7);

  for (auto& [n, m] : modules()) m->to(device_);
  model_params_.clear();
  for (auto& [n, p] : backbone_.module->named_parameters()) model_params_.emplace_back("backbone." + n, p);
  for (auto& [n, p] : final_->named_parameters()) model_params_.emplace_back("final." + n, p);
  if (local_)
    for (auto& [n, p] : local_->named_parameters()) model_params_.emplace_back("local." + n, p);
  optimizers_.push_back(build_optimizer_slot("model", cfg, "optim", model_params_, ctx));
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> LabelFreeRegime::modules() {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> m = {{"backbone", backbone_.module}, {"final", final_},
                                                                    {"text", text_}};
  if (local_) m.emplace_back("local", local_);
  return m;
}

std::vector<std::pair<std::string, Generator*>> LabelFreeRegime::generators() {
  return {{"self_training", &switch_gen_}, {"controls", &control_gen_}};
}

Forward LabelFreeRegime::forward(const Batch& b) {
  Forward fw;
  if (point_rows()) {
    fw.feats = spvcnn_forward(*backbone_.spvcnn, b, device_);  // the batch's voxelization when it is SPVCNN's
  } else {
    SparseTensor x = b.input.device() == device_
                         ? b.input
                         : SparseTensor(b.input.coords().to(device_), b.input.feats().to(device_), b.input.stride(),
                                        b.input.num_batches());
    fw.feats = backbone_.minkunet->forward(x).feats();
  }
  fw.f = final_->forward(fw.feats);
  fw.z = text_->forward(fw.f);
  return fw;
}

Tensor LabelFreeRegime::logits(const Batch& b) {
  NoGradGuard ng;
  return forward(b).z;
}

Tensor LabelFreeRegime::rows_of_points(const Batch& b, const Tensor& points) const {
  if (point_rows()) return points;
  // Host values: the batch's host original and point rows built on the host (no device read).
  const std::vector<int64_t> inv = host_i64_values(b.host().inverse), p = host_i64_values(points);
  std::vector<int64_t> r(p.size());
  for (size_t i = 0; i < p.size(); ++i) r[i] = inv[size_t(p[i])];
  return Tensor::from_vector(r, Shape{int64_t(r.size())});
}

PairTargets LabelFreeRegime::pair_targets(const Batch& b) const {
  LESEG_CHECK(b.pairs.defined() && b.view_clip_labels.defined(), name(),
              ": the batch carries no pixel-point pairs / CLIP pixel labels (set data.views: true; scenes ",
              b.scene_names.empty() ? std::string("?") : b.scene_names[0], " ...)");
  LESEG_CHECK(b.pairs.ndim() == 2 && b.pairs.size(1) == 3, name(), ": pairs must be (P, 3), got ", b.pairs.shape().str());
  const int64_t V = b.view_clip_labels.size(0), h = b.view_clip_labels.size(1), w = b.view_clip_labels.size(2);
  const int64_t C = num_classes(), N = b.num_points();
  // From the batch's host original: the pairs and the CLIP pixel labels are host data (no device read).
  const std::vector<int64_t> pr = host_i64_values(b.host().pairs), lab = host_i64_values(b.host().view_clip_labels);
  std::vector<int64_t> pts, pix, lbl, vws;
  const int64_t P = b.pairs.size(0);
  for (int64_t i = 0; i < P; ++i) {
    const int64_t p = pr[size_t(3 * i)], px = pr[size_t(3 * i + 1)], v = pr[size_t(3 * i + 2)];
    LESEG_CHECK(p >= 0 && p < N && v >= 0 && v < V && px >= 0 && px < h * w, name(), ": pair ", i, " = (", p, ", ", px,
                ", ", v, ") outside the batch (", N, " points, ", V, " views of ", h, "x", w, ")");
    const int64_t flat = v * h * w + px;
    const int64_t l = lab[size_t(flat)];
    if (l < 0) continue;
    LESEG_CHECK(l < C, name(), ": CLIP pixel label ", l, " >= ", C, " classes (view ", v, ")");
    pts.push_back(p);
    pix.push_back(flat);
    lbl.push_back(l);
    vws.push_back(v);
  }
  const Shape s{int64_t(pts.size())};
  PairTargets t;
  t.points = Tensor::from_vector(pts, s);
  t.labels = Tensor::from_vector(lbl, s);
  t.pixels = Tensor::from_vector(pix, s);
  t.views = Tensor::from_vector(vws, s);
  t.rows = rows_of_points(b, t.points);
  return t;
}

Tensor LabelFreeRegime::pair_gt(const Batch& b, const PairTargets& pt) const {
  const int64_t P = pt.points.numel();
  if (!b.labels.defined()) return Tensor::full(Shape{P}, -1.0, DType::i64);
  const std::vector<int64_t> gt = host_i64_values(b.host().labels), p = host_i64_values(pt.points);
  std::vector<int64_t> g(p.size());
  for (size_t i = 0; i < p.size(); ++i) g[i] = gt[size_t(p[i])];
  return Tensor::from_vector(g, Shape{P});
}

PairTargets LabelFreeRegime::training_pairs(const Batch& b) {
  PairTargets pt = pair_targets(b);
  if (label_source_ == controls::LabelSource::Pseudo) return pt;
  const Tensor gt = pair_gt(b, pt);
  LESEG_CHECK(label_source_ != controls::LabelSource::Gt || b.labels.defined(), name(),
              ": data.label_source=gt but the training batch carries no GT labels (scenes ",
              b.scene_names.empty() ? std::string("?") : b.scene_names[0], " ...)");
  // pair_targets built these on the host from the batch's host original: host values, no device read.
  const std::vector<int64_t> g = host_i64_values(gt);
  const std::vector<int64_t> lab = controls::apply(host_i64_values(pt.labels), &g, label_source_, num_classes(), control_gen_);
  const std::vector<int64_t> pts = host_i64_values(pt.points), pix = host_i64_values(pt.pixels),
                             vws = host_i64_values(pt.views), rws = host_i64_values(pt.rows);
  std::vector<int64_t> o_lab, o_pts, o_pix, o_vws, o_rws;
  for (size_t i = 0; i < lab.size(); ++i) {
    if (lab[i] < 0) continue;
    o_lab.push_back(lab[i]);
    o_pts.push_back(pts[i]);
    o_pix.push_back(pix[i]);
    o_vws.push_back(vws[i]);
    o_rws.push_back(rws[i]);
  }
  const Shape s{int64_t(o_lab.size())};
  PairTargets out;
  out.labels = Tensor::from_vector(o_lab, s);
  out.points = Tensor::from_vector(o_pts, s);
  out.pixels = Tensor::from_vector(o_pix, s);
  out.views = Tensor::from_vector(o_vws, s);
  out.rows = Tensor::from_vector(o_rws, s);
  return out;
}

void LabelFreeRegime::record_target_stats(const Batch& b, const Forward& fw, const PairTargets& pt,
                                          const Tensor& targets) {
  stats_ = nlohmann::json::object();
  pending_stats_.clear();
  if (!b.labels.defined() || pt.points.numel() == 0) return;
  NoGradGuard ng;
  // Queued: the network's argmax at the pairs stays on the device until step_stats() (after the step) reads it with
  // the other statistics; the agreement is computed on the host then (the targets and the GT are host data).
  const Tensor pred = argmax(index_select(fw.z.detach(), 0, on_device(pt.rows)), 1);
  const Tensor gt = pair_gt(b, pt), tg = targets;
  const int64_t C = num_classes();
  pending_stats_.add({pred}, [gt, tg, C](const std::vector<std::vector<double>>& v, nlohmann::json& j) {
    controls::add_target_stats(j, tg.to(Device::cpu()).to(DType::i64), gt, std::vector<int64_t>(v[0].begin(), v[0].end()), C);
  });
}

Tensor LabelFreeRegime::pair_ce(const Forward& fw, const PairTargets& pt, const Tensor& target, bool use_prediction) {
  Tensor zp = index_select(fw.z, 0, on_device(pt.rows));  // (P, C)
  Tensor y = SelfTrainingSwitch::target(on_device(target), zp, use_prediction);
  return cross_entropy(zp, y);
}

Tensor sample_pixel_features(const Tensor& feats, const Tensor& pixels, int64_t h, int64_t w) {
  LESEG_CHECK(feats.ndim() == 4 && h >= 1 && w >= 1, "sample_pixel_features: features must be (V, hc, wc, D), got ",
              feats.shape().str());
  const Tensor f = feats.to(Device::cpu()).to(DType::f32);
  const int64_t V = f.size(0), hc = f.size(1), wc = f.size(2), D = f.size(3);
  const float* F = f.data<float>();
  const std::vector<int64_t> pix = host_i64_values(pixels);  // host data (PairTargets): no device read
  std::vector<float> out(pix.size() * size_t(D));
  auto grid = [](int64_t o, int64_t n_out, int64_t n_grid, int64_t& i0, int64_t& i1, double& t) {
    const double g = std::clamp((double(o) + 0.5) * double(n_grid) / double(n_out) - 0.5, 0.0, double(n_grid - 1));
    i0 = int64_t(g);
    i1 = std::min(i0 + 1, n_grid - 1);
    t = g - double(i0);
  };
  for (size_t i = 0; i < pix.size(); ++i) {
    const int64_t v = pix[i] / (h * w), p = pix[i] % (h * w), y = p / w, x = p % w;
    LESEG_CHECK(pix[i] >= 0 && v < V, "sample_pixel_features: pixel ", pix[i], " outside ", V, " views of ", h, "x", w);
    int64_t y0, y1, x0, x1;
    double ty, tx;
    grid(y, h, hc, y0, y1, ty);
    grid(x, w, wc, x0, x1, tx);
    const float* a = F + ((v * hc + y0) * wc + x0) * D;
    const float* b = F + ((v * hc + y0) * wc + x1) * D;
    const float* c = F + ((v * hc + y1) * wc + x0) * D;
    const float* d = F + ((v * hc + y1) * wc + x1) * D;
    float* o = &out[i * size_t(D)];
    for (int64_t k = 0; k < D; ++k)
      o[k] = float((1 - ty) * ((1 - tx) * a[k] + tx * b[k]) + ty * ((1 - tx) * c[k] + tx * d[k]));
  }
  return Tensor::from_vector(out, Shape{int64_t(pix.size()), D});
}

Tensor spatial_cosine_loss(const Tensor& local, const Tensor& target) {
  LESEG_CHECK(local.ndim() == 2 && local.shape() == target.shape(), "spatial loss: local features ", local.shape().str(),
              " and pixel targets ", target.shape().str(), " must be (P, F) alike");
  return cosine_embedding_loss(local, target.detach());
}

Tensor LabelFreeRegime::spatial_loss(const Batch& b, const Forward& fw, const PairTargets& pt) {
  const int64_t h = b.view_clip_labels.size(1), w = b.view_clip_labels.size(2);
  Tensor feats;
  if (spatial_target_ == "clip") {
    LESEG_CHECK(b.view_clip_features.defined(), name(), ": loss.spatial (target clip) needs dense CLIP pixel features; "
                "the batch's views carry none (clip_feat.npy; `leseg data synth` writes them) — set loss.spatial: false "
                "or loss.spatial_target: sam");
    const Tensor& cf = b.host().view_clip_features;  // (V, hc, wc, D), sampled on the host
    LESEG_CHECK(cf.ndim() == 4 && cf.size(3) == text_->text_embeddings().size(1), name(), ": dense CLIP features ",
                cf.shape().str(), " do not have the text width ", text_->text_embeddings().size(1));
    NoGradGuard ng;
    feats = on_device(sample_pixel_features(cf, pt.pixels, h, w));
    if (spatial_projection_.defined()) feats = matmul(feats, spatial_projection_);
  } else {
    LESEG_CHECK(b.view_sam_features.defined(), name(), ": loss.spatial (target sam) needs pixel features; the batch's "
                "views carry no SAM features (set loss.spatial: false)");
    const Tensor& sf = b.view_sam_features;  // (V, hf, wf, F)
    const int64_t hf = sf.size(1), wf = sf.size(2), F = sf.size(3);
    LESEG_CHECK(F == local_->out_features(), name(), ": loss.spatial_dim = ", local_->out_features(),
                " but the views' pixel features have ", F, " channels");
    std::vector<int64_t> pix = host_i64_values(pt.pixels), cell(pix.size());
    for (size_t i = 0; i < pix.size(); ++i) {
      const int64_t v = pix[i] / (h * w), p = pix[i] % (h * w), y = p / w, x = p % w;
      cell[i] = (v * hf + std::min(hf - 1, y * hf / h)) * wf + std::min(wf - 1, x * wf / w);
    }
    feats = index_select(on_device(sf).reshape(Shape{-1, F}), 0,
                         on_device(Tensor::from_vector(cell, Shape{int64_t(cell.size())})));
  }
  Tensor loc = local_->forward(index_select(fw.feats, 0, on_device(pt.rows)));
  return spatial_cosine_loss(loc, feats);
}

}  // namespace leseg::train::label_free
