// SPDX-License-Identifier: Apache-2.0
// regime: cns (METHODS §2.4, REFERENCE-CODE §3, issue 9) — Cross-modality Noisy Supervision, label-free:
// a 2-D network (DeepLabV3 on the views' crops) and a 3-D network (MinkUNet34C on the scene) trained together
// from CLIP pixel pseudo-labels refined by SAM masks, both classifying against the dataset's fixed class text
// embeddings T (C, D): z = head(f)·Tᵀ (optional temperature).
//
// Label maps (all i64, -1 = none). Pixel domain = every pixel of every crop (V, H, W); point domain = the N
// points of the batch. R2 = SAM max-vote inside the crops' SAM masks (train/components/cns.h), R3 = the same
// vote over points grouped by their SAM mask id (Batch::point_sam_ids, the paper's transferred masks M_p):
//   P*_2D  = R2(CLIP pixel labels)                          (paper P*_x)
//   P*_3D  = CLIP labels voted in each view's SAM masks, then projected to points (paper P*_p: refine in 2D,
//            then transfer; the loader does both on the full views: data.pseudo_labels: vote_then_project,
//            Batch::pseudo_labels). Variant data.pseudo_labels: project = R3(raw CLIP labels projected), the
//            earlier order (project, then vote among points sharing a SAM id of the first view pairing them).
//   P̂*_2D = R2(argmax z_2D)      P̂*_3D = R3(argmax z_3D)  (predictions of this step, detached)
// A source is handed to the other domain through the pairs: pixel map -> points = mode over the views that
// pair the point (cns::to_points over the crops' pairs); point map -> pixels = the point's label at the pixels
// it pairs (other pixels -1; a pixel paired with several points takes the first pair's) [reading].
// Stage 0 (ours; cns.stage0_epochs, default 0 = off): the 2D net alone on P*_2D, standing in for the ImageNet
// initialisation (model2d.init loads torchvision weights where a user has them). The stages below count after it.
// Stage 1 (epochs < cns.warmup_epochs, 0-based): 2D net <- P*_2D, 3D net <- P*_3D (paper eq. 5).
// Stage 2: per batch, one source is drawn for each network, uniformly over its enabled set (eq. 6), through
// cns::LabelSourceSampler on the regime's generator (2D draw first, then 3D):
//   cns.switch: full    both nets {P*_2D, P*_3D, P̂*_2D, P̂*_3D}
//               no_ct   "w/o CT": 2D {P*_2D, P*_3D, P̂*_2D}, 3D {P*_2D, P*_3D, P̂*_3D} (no cross-training)
//               no_sct  "w/o SCT": both {P*_2D, P*_3D} (CLIP only)
//               no_clip "w/o CLIP": both {P̂*_2D, P̂*_3D}
//               w_2d / w_3d: both nets trained on P̂*_2D / P̂*_3D only
//   cns.refine: train (R2/R3 on CLIP labels and predictions), none ("w/o Refine": identity; needs
//               data.pseudo_labels: project), train+post ("Post-Refine" as Table 2 reads: full training, and the
//               predictions refined by the SAM masks at evaluation), post (identity in training, refined at
//               evaluation: the earlier reading, kept as a variant; needs data.pseudo_labels: project).
//   cns.eval_source: model (default) | labels: evaluation scores the batch's pseudo-labels themselves (no network:
//               the paper's "Baseline" = projected CLIP labels with data.pseudo_labels: project, and "w/o CNS" =
//               SAM-refined labels with vote_then_project), on the same validation points. Points without a
//               label get all-zero logits, i.e. class 0 (`leseg data inspect` counts them as misses instead).
// data.label_source (issue 19's controls, docs/evidence.md): pseudo | gt (positive control: both nets on ground
// truth) | shuffled (negative control: each labelled entry of the drawn targets becomes a uniformly drawn class) |
// permuted (negative control: the drawn targets' labelled entries permuted among themselves). Mechanism statistics (eval_metrics): every source's and network's
// mIoU / accuracy on the training points since the previous evaluation (miou_train_clip_2d, ... miou_train_net_3d).
// Loss terms (each already weighted): ce_2d = w_2d·CE(z_2D over all crop pixels, target), ce_3d =
// w_3d·CE(z_3D at points, target) (means over labelled rows; the paper writes sums), and latent-space
// consistency (eq. 7) at the P (point, pixel) pairs: lsc_2d / lsc_3d = w_f·mean(1 − cos(θ(x), φ(s)/‖φ(s)‖)),
// w_f·mean(1 − cos(ϕ(p), φ(s)/‖φ(s)‖)) with 64-d linear heads (cns::LatentConsistency; φ frozen [reading]);
// x = 2D features at the pixel (bilinear from the ASPP output, equal to the upsampled map there), p = 3D
// features of the point, s = the frozen target feature at the pixel:
//   cns.lsc: sam (SAM features, bilinear from Batch::view_sam_features), clip (the synthetic data carry no
//   dense CLIP features: stand-in = the text embedding of the pixel's CLIP label, i.e. MaskCLIP's feature
//   direction at its argmax [reading]), sam_clip (both concatenated), none (no LSC terms).
// Evaluation: logits() returns the 3D network's voxel logits (3D mIoU); in eval mode it also runs the 2D
// network on the batch's views and accumulates a 2D confusion matrix against Batch::view_gt_labels, reported
// through eval_metrics() as miou_2d / accuracy_2d / iou_2d (flat keys in the Trainer's eval record).
// Deviations: SAM voting happens on the crops (the crop is where the 2D net sees pixels); DeepLabV3 starts from
// random weights (no ImageNet weights are bundled); CE is a mean, not a sum.
// Config keys (defaults = paper/reference where they say): model.* (3D: MinkUNet34C; planes/layers/init_dim
// overrides as in the supervised regime), model2d.depth (18; paper ResNet-50), model2d.output_stride (8),
// model2d.aspp_channels (256), model2d.dropout (0.5), model2d.atrous_rates ([] = by output stride),
// cns.warmup_epochs (10), cns.switch (full), cns.refine (train), cns.lsc (sam), cns.latent (64),
// cns.train_target_head (false), cns.ce_2d_weight / ce_3d_weight / lsc_weight (1), cns.temperature (1),
// cns.text_bias (false: head(f) = W f), optim.* (3D net, slot "model"), optim2d.* (2D net, slot "model2d").

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/error.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "models/deeplabv3.h"
#include "models/heads.h"
#include "models/registry.h"
#include "train/components/cns.h"
#include "train/components/common.h"
#include "train/components/pending_stats.h"
#include "train/metrics.h"
#include "train/regime.h"

namespace leseg::train {
namespace {

using cns::LabelSource;


std::vector<int64_t> to_i64(const Tensor& t) {
  return (t.dtype() == DType::i64 ? t : t.to(DType::i64)).to(Device::cpu()).to_vector<int64_t>();
}

// Bilinear sampling (align_corners = false, PyTorch's index arithmetic) of a (V·h·w, F) row table of
// per-view maps at full-crop pixels (view, y·W + x) of an H×W crop -> (P, F). Differentiable in `rows`.
Tensor sample_bilinear(const Tensor& rows, int64_t h, int64_t w, int64_t H, int64_t W, const std::vector<int64_t>& view,
                       const std::vector<int64_t>& pix) {
  const size_t P = view.size();
  std::vector<int64_t> idx[4];
  std::vector<float> wt[4];
  for (int k = 0; k < 4; ++k) idx[k].resize(P), wt[k].resize(P);
  const double sy = double(h) / double(H), sx = double(w) / double(W);
  for (size_t i = 0; i < P; ++i) {
    const int64_t y = pix[i] / W, x = pix[i] % W;
    const double fy = std::max(0.0, (double(y) + 0.5) * sy - 0.5), fx = std::max(0.0, (double(x) + 0.5) * sx - 0.5);
    const int64_t y0 = std::min<int64_t>(int64_t(fy), h - 1), x0 = std::min<int64_t>(int64_t(fx), w - 1);
    const int64_t y1 = std::min<int64_t>(y0 + 1, h - 1), x1 = std::min<int64_t>(x0 + 1, w - 1);
    const double ly = fy - double(y0), lx = fx - double(x0);
    const int64_t base = view[i] * h * w;
    idx[0][i] = base + y0 * w + x0, wt[0][i] = float((1 - ly) * (1 - lx));
    idx[1][i] = base + y0 * w + x1, wt[1][i] = float((1 - ly) * lx);
    idx[2][i] = base + y1 * w + x0, wt[2][i] = float(ly * (1 - lx));
    idx[3][i] = base + y1 * w + x1, wt[3][i] = float(ly * lx);
  }
  Tensor out;
  const Device d = rows.device();
  for (int k = 0; k < 4; ++k) {
    Tensor term = index_select(rows, 0, Tensor::from_vector(idx[k], Shape{int64_t(P)}, d)) *
                  Tensor::from_vector(wt[k], Shape{int64_t(P), 1}, d).to(rows.dtype());
    out = out.defined() ? out + term : term;
  }
  return out;
}

class CnsRegime : public Regime {
 public:
  std::string name() const override { return "cns"; }

  void build(const Config& cfg, const BuildContext& ctx) override {
    LESEG_CHECK(ctx.num_classes > 0, "cns: the dataset declares no classes");
    LESEG_CHECK(ctx.text_embeddings.defined() && ctx.text_embeddings.ndim() == 2 &&
                    ctx.text_embeddings.size(0) == ctx.num_classes,
                "cns: label-free training needs the dataset's class text embeddings (C = ", ctx.num_classes,
                ", D) (text_embeddings.npy in the dataset root)");
    device_ = ctx.device;
    C_ = ctx.num_classes;
    const int64_t D = ctx.text_embeddings.size(1);
    // Modes first (clear errors before the networks are built).
    warmup_ = cfg.get<int>("cns.warmup_epochs", 10);
    LESEG_CHECK(warmup_ >= 0, "config: key 'cns.warmup_epochs' must be >= 0");
    switch_ = cfg.get<std::string>("cns.switch", "full");
    set_samplers(switch_);
    refine_ = cfg.get<std::string>("cns.refine", "train");
    LESEG_CHECK(refine_ == "train" || refine_ == "none" || refine_ == "post" || refine_ == "train+post",
                "config: key 'cns.refine' must be train, none, train+post or post, got '", refine_, "'");
    refine_train_ = refine_ == "train" || refine_ == "train+post";
    refine_post_ = refine_ == "post" || refine_ == "train+post";
    loader_voted_ = cfg.get<std::string>("data.pseudo_labels", "project") == "vote_then_project";
    LESEG_CHECK(refine_train_ || !loader_voted_, "config: cns.refine = ", refine_,
                " trains on unrefined CLIP labels, but data.pseudo_labels = vote_then_project refines them in the "
                "loader: set data.pseudo_labels=project");
    eval_source_ = cfg.get<std::string>("cns.eval_source", "model");
    LESEG_CHECK(eval_source_ == "model" || eval_source_ == "labels",
                "config: key 'cns.eval_source' must be model or labels, got '", eval_source_, "'");
    // Controls (issue 19's protocol): gt (positive) trains both networks on the ground truth of the same points and
    // pixels (Batch::labels, Batch::view_gt_labels) instead of the drawn source; shuffled (negative) permutes the
    // drawn targets' labelled entries among themselves (cns::shuffle_labels), per network and batch.
    control_ = cfg.get<std::string>("data.label_source", "pseudo");
    LESEG_CHECK(control_ == "pseudo" || control_ == "gt" || control_ == "shuffled" || control_ == "permuted",
                "config: key 'data.label_source' must be pseudo, gt, shuffled or permuted, got '", control_, "'");
    control_seed_ = ctx.seed;
    // Stage 0 (ours, not the paper's; issue 20): the first cns.stage0_epochs epochs train the 2D network alone on
    // P*_2D (the SAM-voted CLIP-like labels of its crops: label-free), standing in for the ImageNet initialisation
    // that cannot be downloaded here; the 3D network waits (no loss term; its optimizer steps without gradients).
    // Stages 1 and 2 (cns.warmup_epochs) are counted after stage 0. 0 = off (the paper's schedule).
    stage0_ = cfg.get<int>("cns.stage0_epochs", 0);
    LESEG_CHECK(stage0_ >= 0, "config: key 'cns.stage0_epochs' must be >= 0, got ", stage0_);
    lsc_mode_ = cfg.get<std::string>("cns.lsc", "sam");
    LESEG_CHECK(lsc_mode_ == "sam" || lsc_mode_ == "clip" || lsc_mode_ == "sam_clip" || lsc_mode_ == "none",
                "config: key 'cns.lsc' must be sam, clip, sam_clip or none, got '", lsc_mode_, "'");

    backbone_ = backbone_from_config(cfg, ctx, "cns", "MinkUNet34C", true);
    models::DeepLabV3Config dc = deeplab_from_config(cfg);  // per-pixel heads at 1/os, logits upsampled
    dc.seed = ctx.seed ^ 0x2d2d2dULL;
    net2d_ = std::make_shared<models::DeepLabV3>(dc);
    if (const std::string init = init_deeplab_from_config(*net2d_, cfg); !init.empty()) std::printf("%s\n", init.c_str());

    Generator gen(ctx.seed, 0xc45);
    const bool bias = cfg.get<bool>("cns.text_bias", false);
    head3d_ = std::make_shared<models::ProjectionHead>(backbone_.out_channels, D, bias, gen);
    head2d_ = std::make_shared<models::ProjectionHead>(net2d_->feature_dim(), D, bias, gen);
    models::TextLogitOptions to;
    to.temperature = cfg.get<double>("cns.temperature", 1.0);
    LESEG_CHECK(to.temperature > 0, "config: key 'cns.temperature' must be > 0");
    text_ = std::make_shared<models::TextLogitHead>(ctx.text_embeddings.to(DType::f32), to);

    w_ce2d_ = cfg.get<double>("cns.ce_2d_weight", 1.0);
    w_ce3d_ = cfg.get<double>("cns.ce_3d_weight", 1.0);
    w_lsc_ = cfg.get<double>("cns.lsc_weight", 1.0);
    cns::LatentConsistencyOptions lo;
    lo.dim_2d = net2d_->feature_dim();
    lo.dim_3d = backbone_.out_channels;
    sam_dim_ = cfg.get<int64_t>("cns.sam_dim", 256);  // SAM ViT-H image-encoder channels (synthetic stand-in: 256)
    lo.dim_target = lsc_mode_ == "sam" ? sam_dim_ : lsc_mode_ == "clip" ? D : sam_dim_ + D;
    lo.latent = cfg.get<int64_t>("cns.latent", 64);
    lo.train_target_head = cfg.get<bool>("cns.train_target_head", false);
    lsc_ = std::make_shared<cns::LatentConsistency>(lo, gen);
    sampler_gen_ = Generator(ctx.seed, 0x5a3b);

    for (auto& [n, m] : modules()) m->to(device_);
    std::vector<std::pair<std::string, Tensor>> p3, p2;
    for (auto& [n, p] : backbone_.module->named_parameters()) p3.emplace_back("backbone3d." + n, p);
    for (auto& [n, p] : head3d_->named_parameters()) p3.emplace_back("head3d." + n, p);
    for (auto& [n, p] : net2d_->named_parameters()) p2.emplace_back("net2d." + n, p);
    for (auto& [n, p] : head2d_->named_parameters()) p2.emplace_back("head2d." + n, p);
    if (lsc_mode_ != "none") {
      for (auto& [n, p] : lsc_->phi_3d->named_parameters()) p3.emplace_back("lsc.phi_3d." + n, p);
      for (auto& [n, p] : lsc_->theta->named_parameters()) p2.emplace_back("lsc.theta." + n, p);
      if (lo.train_target_head)
        for (auto& [n, p] : lsc_->phi_target->named_parameters()) p3.emplace_back("lsc.phi_target." + n, p);
    }
    optimizers_.push_back(build_optimizer_slot("model", cfg, "optim", p3, ctx));
    optimizers_.push_back(build_optimizer_slot("model2d", cfg, "optim2d", p2, ctx));
  }

  LossTerms step(const Batch& b, int64_t epoch_in_run, int64_t it) override {
    check_views(b, "step");
    Views v = views(b);
    const bool stage0 = epoch_in_run < stage0_;
    const int64_t epoch = epoch_in_run - stage0_;  // the paper's stages count from the end of stage 0
    // 3D network: voxel features -> points.
    Tensor inv = b.inverse.to(device_);
    Tensor f3v = backbone_.minkunet->forward(to_device(b.input)).feats();  // (M, F3)
    Tensor z3p = index_select(text_->forward(head3d_->forward(f3v)), 0, inv);  // (N, C)
    // 2D network: ASPP features at 1/os, text logits upsampled to the crop (linear, so equal to classifying
    // the upsampled features).
    models::DeepLabV3Output o2 = net2d_->run(b.images.to(device_));
    Tensor low = o2.features_lowres;  // (V, F2, h, w)
    const int64_t h = low.size(2), w = low.size(3), F2 = low.size(1);
    Tensor low_rows = permute(low, {0, 2, 3, 1}).reshape(Shape{v.V * h * w, F2});
    Tensor z2 = pixel_logits(low_rows, v.V, h, w, v.H, v.W);  // (V·H·W, C)

    // Label sources (CPU bookkeeping).
    const LabelSource s2 = stage0 ? LabelSource::clip_2d : sampler2d_.draw(int(epoch), false, sampler_gen_);
    const LabelSource s3 = stage0 ? LabelSource::clip_3d : sampler3d_.draw(int(epoch), true, sampler_gen_);
    // Every source is computed (the mechanism statistics score all four each step); the draws decide the targets.
    cns::SourceMaps src;
    Tensor raw2 = argmax(z2.detach(), 1).reshape(Shape{v.V, v.H, v.W}), raw3 = argmax(z3p.detach(), 1);
    src.clip2 = refine2d(b.view_clip_labels, b).reshape(Shape{v.V * v.H * v.W});
    // P*_3D: already voted in 2D by the loader (vote_then_project), else voted among points here (variant).
    src.clip3 = loader_voted_ ? b.pseudo_labels.to(DType::i64) : refine3d(b.pseudo_labels, b);
    src.pred2 = refine2d(raw2, b).reshape(Shape{v.V * v.H * v.W});
    src.pred3 = refine3d(raw3, b);
    Tensor t2 = cns::pixel_target(s2, src, v.pairs, C_), t3 = cns::point_target(s3, src, v.pairs, C_);
    if (control_ == "gt") {
      LESEG_CHECK(b.labels.defined() && b.view_gt_labels.defined(), "cns: data.label_source = gt needs the batch's point "
                  "labels and view label images (scene ", b.scene_names.empty() ? "" : b.scene_names[0], ")");
      // The batch's host original (no device read); uploaded with the other targets below.
      t2 = b.host().view_gt_labels.to(DType::i64).reshape(Shape{v.V * v.H * v.W});
      t3 = b.host().labels.to(DType::i64);
    } else if (control_ == "shuffled" || control_ == "permuted") {
      const uint64_t k = control_seed_ * 0x9E3779B97F4A7C15ULL ^ (uint64_t(epoch_in_run) << 32) ^ uint64_t(it);
      const bool perm = control_ == "permuted";
      t2 = perm ? cns::shuffle_labels(t2, k ^ 0x2d) : cns::random_labels(t2, C_, k ^ 0x2e);
      t3 = perm ? cns::shuffle_labels(t3, k ^ 0x3d) : cns::random_labels(t3, C_, k ^ 0x3e);
    }
    // Statistics and the mechanism rows are queued (detached device tensors, the batch's host GT) and read after
    // the step: step_stats(), eval_metrics().
    stats_ = nlohmann::json::object();
    pending_.clear();
    const Tensor gt = b.labels.defined() ? b.host().labels : Tensor();
    if (gt.defined() && gt.numel() == t3.numel()) {
      const std::vector<int64_t> g = host_i64_values(gt);
      pending_.add({t3, argmax(z3p.detach(), 1)}, [g](const std::vector<std::vector<double>>& v, nlohmann::json& j) {
        const nlohmann::json st = point_target_stats(g, v[0], v[1]);  // named: items() of a temporary would dangle
        for (auto& [k, x] : st.items()) j[k] = x;
      });
    }
    if (net2d_->is_training()) queue_mechanism(gt, src, v, t3, raw2.reshape(Shape{v.V * v.H * v.W}), raw3);

    LossTerms terms;
    CrossEntropyOptions ce;
    ce.ignore_index = -1;
    Tensor ce2 = cross_entropy(z2, t2.to(device_), ce), ce3 = cross_entropy(z3p, t3.to(device_), ce);
    terms.add("ce_2d", w_ce2d_ == 1.0 ? ce2 : ce2 * w_ce2d_);
    if (stage0) return terms;  // stage 0: the 2D network alone
    terms.add("ce_3d", w_ce3d_ == 1.0 ? ce3 : ce3 * w_ce3d_);
    if (lsc_mode_ != "none") {
      if (v.P == 0) {
        Tensor zero = Tensor::zeros(Shape{}, DType::f32, device_);
        terms.add("lsc_2d", zero);
        terms.add("lsc_3d", zero);
      } else {
        Tensor x = sample_bilinear(low_rows, h, w, v.H, v.W, v.pair_view, v.pair_pix);       // (P, F2)
        Tensor p = index_select(index_select(f3v, 0, inv), 0,
                                Tensor::from_vector(v.pair_point, Shape{v.P}, device_));  // (P, F3)
        Tensor s = lsc_target(b, v).to(device_);                                        // (P, Fs)
        cns::LatentConsistencyLoss l = lsc_->loss(x, p, s);
        terms.add("lsc_2d", w_lsc_ == 1.0 ? l.term_2d : l.term_2d * w_lsc_);
        terms.add("lsc_3d", w_lsc_ == 1.0 ? l.term_3d : l.term_3d * w_lsc_);
      }
    }
    return terms;
  }

  Tensor logits(const Batch& b) override {
    NoGradGuard ng;
    if (eval_source_ == "labels") {  // the pseudo-labels themselves, per point (no network)
      LESEG_CHECK(b.pseudo_labels.defined() && b.pseudo_labels.numel() == b.num_points(),
                  "cns: cns.eval_source = labels needs the batch's pseudo-labels (views in the evaluation data)");
      return one_hot_logits(b.pseudo_labels);
    }
    Tensor z3v = text_->forward(head3d_->forward(backbone_.minkunet->forward(to_device(b.input)).feats()));
    const bool eval = !net2d_->is_training();
    const bool post = refine_post_ && b.point_sam_ids.defined();
    Tensor out = z3v;
    if (post) {  // Post-Refine: point predictions voted inside their SAM masks, returned as one-hot point logits
      Tensor pred = refine_by_masks_always(argmax(index_select(z3v, 0, b.inverse.to(device_)), 1), b.point_sam_ids,
                                           b.num_sam_masks);
      out = one_hot_logits(pred);
    }
    if (eval && b.num_views() > 0 && b.view_gt_labels.defined() && b.images.defined()) {
      models::DeepLabV3Output o2 = net2d_->run(b.images.to(device_));
      Tensor low = o2.features_lowres;
      const int64_t V = low.size(0), h = low.size(2), w = low.size(3), F2 = low.size(1);
      const int64_t H = b.view_gt_labels.size(1), W = b.view_gt_labels.size(2);
      Tensor z2 = pixel_logits(permute(low, {0, 2, 3, 1}).reshape(Shape{V * h * w, F2}), V, h, w, H, W);
      Tensor pred2 = argmax(z2, 1).reshape(Shape{V, H, W});
      if (refine_post_ && b.view_sam_masks.defined())
        pred2 = refine_by_masks_always(pred2, b.view_sam_masks, b.num_sam_masks);
      std::vector<int64_t> p64 = to_i64(pred2), g64 = to_i64(b.view_gt_labels);
      std::vector<int32_t> p(p64.begin(), p64.end()), g(g64.begin(), g64.end());
      if (!cm2d_) cm2d_ = std::make_unique<ConfusionMatrix>(int(C_), -1);
      cm2d_->update(p.data(), g.data(), int64_t(p.size()));
    }
    return out;
  }

  void begin_eval() override { cm2d_.reset(); }
  // The 2D network's validation metrics, and the mechanism of the training steps since the previous evaluation:
  // on the training points (ground truth from Batch::labels, used for nothing else), the mIoU / accuracy / coverage
  // of each label source handed to points (train_clip_2d = P*_2D, train_clip_3d = P*_3D, train_pred_2d = P̂*_2D,
  // train_pred_3d = P̂*_3D, train_target_3d = the 3D target actually used) and of each network's own argmax
  // (train_net_3d; train_net_2d = the 2D argmax handed to points, unrefined). Keys miou_<name>, accuracy_<name>,
  // coverage_<name>; accuracy and mIoU count only the points a source labels.
  nlohmann::json eval_metrics() override {
    flush();
    nlohmann::json j = cm2d_ ? cm2d_->record("_2d") : nlohmann::json::object();
    for (auto& [name, m] : mech_) {
      if (m.cm.total() == 0) continue;
      j["miou_" + name] = m.cm.miou();
      j["accuracy_" + name] = m.cm.accuracy();
      j["coverage_" + name] = double(m.cm.total()) / double(std::max<int64_t>(m.points, 1));
    }
    mech_.clear();
    return j;
  }
  nlohmann::json step_stats() const override {
    nlohmann::json j = stats_;
    PendingStats all = pending_;
    all.append(pending_mech_);  // the statistics and the mechanism rows in one read
    pending_mech_.clear();
    all.write(j);
    return j;
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override {
    return {{"backbone3d", backbone_.module}, {"head3d", head3d_}, {"net2d", net2d_},
            {"head2d", head2d_},              {"text", text_},     {"lsc", lsc_}};
  }
  std::vector<std::pair<std::string, Generator*>> generators() override {
    return {{"label_switch", &sampler_gen_}, {"net2d_dropout", &net2d_->dropout_generator()}};
  }

 private:
  // Diagnostics for `leseg report` when the batch carries point ground truth (never used in a loss): accuracy of
  // the 3D training targets where they label a point, their coverage, and the 3D network's accuracy.
  // g: the points' GT, t: the 3D targets, p: the 3D network's argmax (host values).
  static nlohmann::json point_target_stats(const std::vector<int64_t>& g, const std::vector<double>& t,
                                           const std::vector<double>& p) {
    int64_t n = 0, cov = 0, tok = 0, pok = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i] < 0) continue;
      ++n;
      pok += p[i] == g[i];
      if (t[i] >= 0) ++cov, tok += t[i] == g[i];
    }
    if (n == 0) return nlohmann::json::object();
    nlohmann::json j = {{"target_coverage_3d", double(cov) / double(n)}, {"network_accuracy_3d", double(pok) / double(n)}};
    if (cov > 0) j["target_accuracy_3d"] = double(tok) / double(cov);
    return j;
  }
  nlohmann::json stats_ = nlohmann::json::object();
  // Read after the step, in one read (step_stats()): the statistics of the last step (pending_), and the mechanism
  // rows of every training step since the last read (pending_mech_, counted into mech_; eval_metrics() reads them too).
  PendingStats pending_;
  mutable PendingStats pending_mech_;
  void flush() const {
    nlohmann::json unused = nlohmann::json::object();
    pending_mech_.write(unused);
    pending_mech_.clear();
  }
  struct Views {
    int64_t V = 0, H = 0, W = 0, P = 0, N = 0;
    std::vector<int64_t> pair_point, pair_pix, pair_view;
    cns::PairIndex pairs;
  };
  struct Mechanism {
    ConfusionMatrix cm;
    int64_t points = 0;  // points with ground truth seen (the coverage denominator)
    explicit Mechanism(int c) : cm(c, -1) {}
  };
  // The mechanism rows of one step: every source handed to the points on the device now, their values read with
  // the step's statistics and counted into mech_ then (record_mechanism).
  void queue_mechanism(const Tensor& labels, const cns::SourceMaps& src, const Views& v, const Tensor& t3,
                       const Tensor& net2_pixels, const Tensor& net3_points) {
    if (!labels.defined() || labels.numel() != v.N) return;
    const std::vector<int64_t> g = host_i64_values(labels);
    std::vector<Tensor> pts{cns::pixels_to_points(src.clip2, v.pairs, C_), src.clip3,
                            cns::pixels_to_points(src.pred2, v.pairs, C_), src.pred3, t3, net3_points,
                            cns::pixels_to_points(net2_pixels, v.pairs, C_)};
    pending_mech_.add(pts, [this, g](const std::vector<std::vector<double>>& vals, nlohmann::json&) {
      record_mechanism(g, vals);
    });
  }
  void record_mechanism(const std::vector<int64_t>& g64, const std::vector<std::vector<double>>& vals) const {
    const std::vector<int32_t> g(g64.begin(), g64.end());
    size_t k = 0;
    auto add = [&](const std::string& name) {
      auto it = mech_.find(name);
      if (it == mech_.end()) it = mech_.emplace(name, Mechanism(int(C_))).first;
      const std::vector<double>& pd = vals[k++];
      const std::vector<int64_t> p(pd.begin(), pd.end());
      std::vector<int32_t> pp, gg;
      for (size_t i = 0; i < g.size(); ++i) {
        if (g[i] < 0) continue;
        ++it->second.points;
        if (p[i] < 0) continue;
        pp.push_back(int32_t(p[i]));
        gg.push_back(g[i]);
      }
      it->second.cm.update(pp.data(), gg.data(), int64_t(pp.size()));
    };
    for (const char* name : {"train_clip_2d", "train_clip_3d", "train_pred_2d", "train_pred_3d", "train_target_3d",
                             "train_net_3d", "train_net_2d"})
      add(name);
  }
  mutable std::map<std::string, Mechanism> mech_;

  void set_samplers(const std::string& mode) {
    cns::LabelSourceSampler a, b;
    a.warmup_epochs = b.warmup_epochs = warmup_;
    auto only = [](cns::LabelSourceSampler& s, bool c2, bool c3, bool p2, bool p3) {
      s.use_clip_2d = c2, s.use_clip_3d = c3, s.use_pred_2d = p2, s.use_pred_3d = p3;
    };
    if (mode == "full") {
    } else if (mode == "no_ct") {
      only(a, true, true, true, false);
      only(b, true, true, false, true);
    } else if (mode == "no_sct") {
      only(a, true, true, false, false);
      only(b, true, true, false, false);
    } else if (mode == "no_clip") {
      a = cns::LabelSourceSampler::without_clip();
      b = cns::LabelSourceSampler::without_clip();
      a.warmup_epochs = b.warmup_epochs = warmup_;
    } else if (mode == "w_2d") {
      only(a, false, false, true, false);
      only(b, false, false, true, false);
    } else if (mode == "w_3d") {
      only(a, false, false, false, true);
      only(b, false, false, false, true);
    } else {
      LESEG_FAIL("config: key 'cns.switch' must be full, no_ct, no_sct, no_clip, w_2d or w_3d, got '", mode, "'");
    }
    sampler2d_ = a;
    sampler3d_ = b;
  }

  void check_views(const Batch& b, const char* what) const {
    const std::string scene = b.scene_names.empty() ? "" : b.scene_names[0];
    LESEG_CHECK(b.num_views() > 0 && b.pairs.defined() && b.images.defined(), "cns ", what, ": batch (scene ", scene,
                ") has no views: set data.views: true and use a dataset with RGB-D views");
    LESEG_CHECK(b.view_clip_labels.defined() && b.view_sam_masks.defined() && b.pseudo_labels.defined() &&
                    b.point_sam_ids.defined(),
                "cns ", what, ": batch (scene ", scene, ") lacks CLIP pixel labels or SAM masks");
    LESEG_CHECK(lsc_mode_ == "none" || lsc_mode_ == "clip" || b.view_sam_features.defined(), "cns ", what,
                ": cns.lsc = ", lsc_mode_, " needs SAM features, which batch (scene ", scene, ") lacks");
  }

  Views views(const Batch& b) const {
    Views v;
    v.V = b.view_clip_labels.size(0), v.H = b.view_clip_labels.size(1), v.W = b.view_clip_labels.size(2);
    v.N = b.num_points();
    const std::vector<int64_t> pr = host_i64_values(b.host().pairs);  // host data: no device read
    v.P = int64_t(pr.size() / 3);
    v.pair_point.resize(size_t(v.P)), v.pair_pix.resize(size_t(v.P)), v.pair_view.resize(size_t(v.P));
    for (int64_t i = 0; i < v.P; ++i) {
      const int64_t pt = pr[size_t(3 * i)], px = pr[size_t(3 * i + 1)], vw = pr[size_t(3 * i + 2)];
      LESEG_CHECK(vw >= 0 && vw < v.V && px >= 0 && px < v.H * v.W && pt >= 0 && pt < v.N, "cns: pair ", i, " (",
                  pt, ", ", px, ", ", vw, ") outside the batch (", v.N, " points, ", v.V, " views of ", v.H, "x", v.W, ")");
      v.pair_point[size_t(i)] = pt, v.pair_pix[size_t(i)] = px, v.pair_view[size_t(i)] = vw;
    }
    v.pairs.N = v.N, v.pairs.V = v.V, v.pairs.H = v.H, v.pairs.W = v.W;
    v.pairs.point = v.pair_point, v.pairs.pixel = v.pair_pix, v.pairs.view = v.pair_view;
    cns::to_device(v.pairs, device_);  // the label hand-overs run on the device
    return v;
  }

  // (V·h·w, F2) low-resolution features -> (V·H·W, C) text logits at the crop's pixels.
  Tensor pixel_logits(const Tensor& low_rows, int64_t V, int64_t h, int64_t w, int64_t H, int64_t W) {
    Tensor zl = text_->forward(head2d_->forward(low_rows));  // (V·h·w, C)
    Tensor zmap = permute(zl.reshape(Shape{V, h, w, C_}), {0, 3, 1, 2});
    Tensor up = interpolate_bilinear(zmap, Size2(H, W), false);  // (V, C, H, W)
    return permute(up, {0, 2, 3, 1}).reshape(Shape{V * H * W, C_});
  }

  // SAM max-voting on the regime's device: the batch's mask ids are global in [-1, num_sam_masks), so nothing is
  // compacted or read back.
  Tensor refine_by_masks_always(const Tensor& labels, const Tensor& masks, int64_t num_masks) const {
    return cns::refine_by_masks(labels.to(device_), masks.to(device_), C_, num_masks);
  }
  Tensor refine2d(const Tensor& labels, const Batch& b) const {
    if (!refine_train_) return labels.to(device_).to(DType::i64);
    return refine_by_masks_always(labels, b.view_sam_masks, b.num_sam_masks);
  }
  Tensor refine3d(const Tensor& labels, const Batch& b) const {
    if (!refine_train_) return labels.to(device_).to(DType::i64);
    return refine_by_masks_always(labels, b.point_sam_ids, b.num_sam_masks);
  }

  // Frozen target features s at the pairs: (P, Fs).
  Tensor lsc_target(const Batch& b, const Views& v) const {
    Tensor sam, clip;
    if (lsc_mode_ == "sam" || lsc_mode_ == "sam_clip") {
      const Tensor& f = b.view_sam_features;  // (V, hf, wf, F)
      LESEG_CHECK(f.ndim() == 4 && f.size(0) == v.V && f.size(3) == sam_dim_, "cns: view_sam_features ",
                  f.shape().str(), " do not match ", v.V, " views with cns.sam_dim = ", sam_dim_);
      sam = sample_bilinear(b.host().view_sam_features.reshape(Shape{v.V * f.size(1) * f.size(2), f.size(3)}), f.size(1),
                            f.size(2), v.H, v.W, v.pair_view, v.pair_pix);
    }
    if (lsc_mode_ == "clip" || lsc_mode_ == "sam_clip") {
      std::vector<int64_t> cl = host_i64_values(b.host().view_clip_labels), rows(size_t(v.P));
      const Tensor& T = text_->text_embeddings();
      const int64_t D = T.size(1);
      std::vector<float> zero(size_t(D), 0.0f);
      if (!text_cpu_.defined()) text_cpu_ = T.to(Device::cpu()).to(DType::f32);  // fixed: copied to the host once
      Tensor table = concat({text_cpu_, Tensor::from_vector(zero, Shape{1, D})}, 0);
      for (int64_t i = 0; i < v.P; ++i) {
        const int64_t c = cl[size_t(v.pair_view[size_t(i)] * v.H * v.W + v.pair_pix[size_t(i)])];
        rows[size_t(i)] = c < 0 ? C_ : c;  // no CLIP label: a zero feature
      }
      clip = index_select(table, 0, Tensor::from_vector(rows, Shape{v.P}));
    }
    if (sam.defined() && clip.defined()) return concat({sam, clip}, 1);
    return sam.defined() ? sam : clip;
  }

  Tensor one_hot_logits(const Tensor& labels) const {
    std::vector<int64_t> l = to_i64(labels);
    std::vector<float> z(l.size() * size_t(C_), 0.0f);
    for (size_t i = 0; i < l.size(); ++i)
      if (l[i] >= 0) z[i * size_t(C_) + size_t(l[i])] = 1.0f;
    return Tensor::from_vector(z, Shape{int64_t(l.size()), C_}, device_);
  }

  SparseTensor to_device(const SparseTensor& x) const {
    if (x.device() == device_) return x;
    return SparseTensor(x.coords().to(device_), x.feats().to(device_), x.stride(), x.num_batches());
  }

  Device device_ = Device::cpu();
  int64_t C_ = 0, sam_dim_ = 256;
  models::Backbone backbone_;
  std::shared_ptr<models::DeepLabV3> net2d_;
  std::shared_ptr<models::ProjectionHead> head3d_, head2d_;
  std::shared_ptr<models::TextLogitHead> text_;
  std::shared_ptr<cns::LatentConsistency> lsc_;
  cns::LabelSourceSampler sampler2d_, sampler3d_;
  Generator sampler_gen_;
  int warmup_ = 10;
  std::string switch_ = "full", refine_ = "train", lsc_mode_ = "sam", eval_source_ = "model", control_ = "pseudo";
  int stage0_ = 0;
  uint64_t control_seed_ = 0;
  bool refine_train_ = true, refine_post_ = false, loader_voted_ = false;
  double w_ce2d_ = 1.0, w_ce3d_ = 1.0, w_lsc_ = 1.0;
  std::unique_ptr<ConfusionMatrix> cm2d_;
  mutable Tensor text_cpu_;  // the class text embeddings on the host (LSC clip targets)
};

}  // namespace

std::unique_ptr<Regime> make_cns_regime() { return std::make_unique<CnsRegime>(); }
}  // namespace leseg::train
