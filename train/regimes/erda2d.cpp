// SPDX-License-Identifier: Apache-2.0
// regime: erda2d (METHODS §2.6, REFERENCE-CODE §4 "2D query-based variant", issue 10) — ERDA on images: the
// prototypes are given by learnable class queries that cross-attend to the pixel features (no public code:
// [reading]), the loss is the 3D regime's (train/regimes/erda.cpp), the network is DeepLabV3 on the views' crops
// and the labels are the views' ground-truth label images made weak.
//   x = DeepLabV3(images) ASPP features at 1/os, rows (V·h·w, F) (F = model2d.aspp_channels);
//   z = classifier(x) (V·h·w, C) (models::ProjectionHead, with bias), bilinearly upsampled to the crop's pixels
//       (V·H·W, C) (a per-pixel linear head commutes with the upsampling, as in regime cns);
//   h = mlp2(x) (V·h·w, F) (erda::ProjectionMLP2, as in 3D);
//   P = QueryPrototypes(x): C learnable queries (C, F) cross-attend (engine/ops/attention.h, the fused kernel)
//       to the pixel rows of each image (erda.attend: image, cu_k = image offsets, P is (V·C, F)) or of the
//       whole batch (erda.attend: batch, one (C, F) set);
//   s = cos(ĥ, P̂_image) / T at 1/os (V·h·w, C), bilinearly upsampled to the crop's pixels; p = softmax(s);
//   weak labels y (V·H·W): the batch's view label crops, made weak by the loader (data.weak_pixel_labels, read by
//       train/job.cpp: per view and class max(⌊r·n_c⌋, 1) pixels of the FULL label image, key "<scene>/view<k>",
//       seed = run seed, drawn before cropping so a view's labelled pixels are the same in every epoch).
//   loss terms:  "ce"    = loss.weight · CE(z, y) over the labelled pixels;
//                "proto" = erda.proto_weight · CE(s, y) over the labelled pixels: what makes the queries class
//                          prototypes (the 3D prototypes are label means; learnable queries need a label signal
//                          of their own, otherwise they only move through p under coadapt) [reading];
//                <term>  = erda.weight · soft-CE over the unlabelled pixels, erda_loss as in 3D: "erda" (H(p) +
//                          KL(p‖q)), "er" (H(p)) or "da" (KL(p‖q)); erda.coadapt false stops the gradient into p.
//   erda.enabled false: the CE-only baseline (no mlp2 / queries; the classifier is initialised first, so the
//   baseline and ERDA runs start from identical DeepLabV3 + classifier weights).
// Controls (docs/evidence.md): data.label_source: shuffled (weak labels -> random classes); gt refused (positive
// control: data.weak_pixel_labels=100%). erda.weak_to_strong (false): p from the crops as loaded (weak view), z and
// the labelled CE from a strongly augmented copy (contrast / brightness / noise / cutout), ERDA Fig. 3.
// erda.image_split (0 = off): semi-supervised image split, that fraction of the views keeps its labels (use with
// data.weak_pixel_labels=100%), the rest none. Stats: labelled_fit, labelled_fraction, p_max, p_entropy.
// Evaluation: in eval mode logits() runs the 2D network on the batch's views and accumulates a 2D confusion matrix
// over the views' labelled pixels (Batch::view_gt_labels, full labels: the weak policy is a training-time one),
// reported by eval_metrics() as miou_2d / accuracy_2d / valid_classes_2d / iou_2d, plus p_acc / p_acc_n: the accuracy
// of argmax p (the queries' per-image prototypes) on the same pixels, none of which is labelled for training (the
// ERDA mechanism: are the pseudo-labels better than the network they teach?). The Trainer's 3D record
// ("miou") scores the 2D predictions projected to the points (mode over the views that pair each point); points
// no view pairs get zero logits, i.e. class 0, so that number is a lower bound, not a 3D result.
// Deviations / [reading]: T (erda.temperature) is 1 in ERDA (cosine
// logits, no temperature); DeepLabV3 starts from random weights (no ImageNet weights are bundled).
// Config keys: model2d.depth (18), model2d.output_stride (8), model2d.aspp_channels (256), model2d.dropout (0.5),
// model2d.atrous_rates ([] = by output stride); data.weak_pixel_labels (required: "1%", "0.1%", "0.01", "20pts" =
// N pixels per view; "100%" = every label); loss.ignore_index (-1, must be < 0), loss.label_smoothing (0), loss.weight (1);
// erda.enabled (true), erda.weight (0.1), erda.term (erda | er | da), erda.coadapt (true), erda.rows (unlabelled |
// all), erda.activation (relu | lrelu), erda.temperature (1), erda.proto_weight (1), erda.attend (image | batch),
// erda.attn_dim (64), erda.heads (4); optim.* (train/regime.h). The views come from data.views: true.

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "io/loader/splits.h"
#include "models/deeplabv3.h"
#include "models/heads.h"
#include "engine/ops/nn_functional.h"
#include "train/components/common.h"
#include "train/components/controls.h"
#include "train/components/erda.h"
#include "train/metrics.h"
#include "train/regime.h"

namespace leseg::train {
namespace {

std::vector<int64_t> to_i64(const Tensor& t) {
  return (t.dtype() == DType::i64 ? t : t.to(DType::i64)).to(Device::cpu()).to_vector<int64_t>();
}

// (V·h·w, K) rows of per-view maps -> (V·H·W, K), bilinear (align_corners = false).
Tensor upsample_rows(const Tensor& rows, int64_t V, int64_t h, int64_t w, int64_t H, int64_t W) {
  const int64_t K = rows.size(1);
  if (h == H && w == W) return rows;
  Tensor map = permute(rows.reshape(Shape{V, h, w, K}), {0, 3, 1, 2});
  Tensor up = interpolate_bilinear(map, Size2(H, W), false);  // (V, K, H, W)
  return permute(up, {0, 2, 3, 1}).reshape(Shape{V * H * W, K});
}

class Erda2dRegime : public Regime {
 public:
  std::string name() const override { return "erda2d"; }

  void build(const Config& cfg, const BuildContext& ctx) override {
    LESEG_CHECK(ctx.num_classes > 0, "erda2d: the dataset declares no classes");
    device_ = ctx.device;
    C_ = ctx.num_classes;
    // switches first (clear errors before the network is built)
    const std::string weak = cfg.get<std::string>("data.weak_pixel_labels", "");
    LESEG_CHECK(!weak.empty(), "erda2d: set data.weak_pixel_labels (e.g. \"1%\"): the loader makes the views' label "
                "images weak before cropping; without it the regime would train on every pixel label");
    (void)io::loader::WeakLabelSpec::parse(weak, ctx.seed);  // a bad spec is an error at build time
    ce_.ignore_index = cfg.get<int64_t>("loss.ignore_index", -1);
    LESEG_CHECK(ce_.ignore_index < 0, "config: key 'loss.ignore_index' = ", ce_.ignore_index,
                ": regime erda2d treats negative pixel labels as unlabelled, so the ignore index must be negative");
    ce_.label_smoothing = cfg.get<double>("loss.label_smoothing", 0.0);
    ce_weight_ = cfg.get<double>("loss.weight", 1.0);
    enabled_ = cfg.get<bool>("erda.enabled", true);
    lo_.weight = cfg.get<double>("erda.weight", 0.1);
    LESEG_CHECK(lo_.weight >= 0.0, "config: key 'erda.weight' must be >= 0, got ", lo_.weight);
    lo_.term = erda::parse_term(cfg.get<std::string>("erda.term", "erda"));
    lo_.coadapt = cfg.get<bool>("erda.coadapt", true);
    const std::string rows = cfg.get<std::string>("erda.rows", "unlabelled");
    LESEG_CHECK(rows == "unlabelled" || rows == "all", "config: key 'erda.rows' must be unlabelled or all, got '", rows, "'");
    all_rows_ = rows == "all";
    const std::string act = cfg.get<std::string>("erda.activation", "relu");
    LESEG_CHECK(act == "relu" || act == "lrelu", "config: key 'erda.activation' must be relu or lrelu, got '", act, "'");
    temperature_ = cfg.get<double>("erda.temperature", 1.0);
    LESEG_CHECK(temperature_ > 0.0, "config: key 'erda.temperature' must be > 0, got ", temperature_);
    proto_weight_ = cfg.get<double>("erda.proto_weight", 1.0);
    LESEG_CHECK(proto_weight_ >= 0.0, "config: key 'erda.proto_weight' must be >= 0, got ", proto_weight_);
    const std::string attend = cfg.get<std::string>("erda.attend", "image");
    LESEG_CHECK(attend == "image" || attend == "batch", "config: key 'erda.attend' must be image or batch, got '",
                attend, "'");
    per_image_ = attend == "image";
    label_source_ = controls::label_source_from_config(cfg);
    LESEG_CHECK(label_source_ != controls::LabelSource::Gt, "config: key 'data.label_source' = gt: regime erda2d trains "
                "on ground-truth weak pixel labels already; its positive control is every pixel labelled "
                "(data.weak_pixel_labels=100%), see docs/evidence.md");
    control_gen_ = Generator(ctx.seed, 0xc0a7);
    weak_to_strong_ = cfg.get<bool>("erda.weak_to_strong", false);
    strong_gen_ = Generator(ctx.seed, 0x57a0);
    image_split_ = cfg.get<double>("erda.image_split", 0.0);
    LESEG_CHECK(image_split_ >= 0.0 && image_split_ <= 1.0, "config: key 'erda.image_split' must be in [0, 1] (0: off), "
                "got ", image_split_);
    split_seed_ = ctx.seed;
    erda::QueryPrototypeOptions qo;
    qo.attn_dim = cfg.get<int64_t>("erda.attn_dim", 64);
    qo.heads = cfg.get<int64_t>("erda.heads", 4);
    LESEG_CHECK(qo.attn_dim > 0 && qo.heads > 0 && qo.attn_dim % qo.heads == 0, "config: keys 'erda.attn_dim' (",
                qo.attn_dim, ") and 'erda.heads' (", qo.heads, ") must be > 0 with attn_dim a multiple of heads");

    models::DeepLabV3Config dc = deeplab_from_config(cfg);  // per-pixel heads at 1/os, logits upsampled
    dc.seed = ctx.seed ^ 0xe2d4ULL;
    net2d_ = std::make_shared<models::DeepLabV3>(dc);
    if (const std::string init = init_deeplab_from_config(*net2d_, cfg); !init.empty()) std::printf("%s\n", init.c_str());
    const int64_t F = net2d_->feature_dim();
    Generator gen(ctx.seed, 0x4ead2d);
    head_ = std::make_shared<models::ProjectionHead>(F, C_, true, gen);  // first: same init as the baseline
    if (enabled_) {
      proj_ = std::make_shared<erda::ProjectionMLP2>(F, gen, act == "lrelu");
      qo.num_classes = C_;
      qo.feat_dim = F;
      qo.proto_dim = F;
      queries_ = std::make_shared<erda::QueryPrototypes>(qo, gen);
    }
    for (auto& [n, m] : modules()) m->to(device_);
    std::vector<std::pair<std::string, Tensor>> params;
    for (auto& [mn, m] : modules())
      for (auto& [n, p] : m->named_parameters()) params.emplace_back(mn + "." + n, p);
    optimizers_.push_back(build_optimizer_slot("model", cfg, "optim", params, ctx));
  }

  LossTerms step(const Batch& b, int64_t, int64_t) override {
    check_views(b, "step");
    const int64_t V = b.view_gt_labels.size(0), H = b.view_gt_labels.size(1), W = b.view_gt_labels.size(2);
    LESEG_CHECK(b.view_labels_weak, "erda2d step: the batch's view labels are not weak (batch of scene ",
                b.scene_names.empty() ? "" : b.scene_names[0], "): train through a job with data.weak_pixel_labels");
    Tensor y = b.view_gt_labels.reshape(Shape{V * H * W}).to(DType::i64);
    if (image_split_ > 0.0) y = split_images(b, y, V, H * W);
    if (label_source_ == controls::LabelSource::Shuffled)  // negative control: weak labels -> random classes
      y = controls::apply(y, Tensor(), label_source_, C_, control_gen_);
    // Weak-to-strong (ERDA Fig. 3): the pseudo-labels p come from the weakly augmented view (the batch's crops),
    // the network's predictions q (and the labelled CE) from a strongly augmented copy of the same crops.
    Tensor x_weak = pixel_rows(b.images.to(device_));  // (V·h·w, F)
    Tensor x = weak_to_strong_ ? pixel_rows(strong_augment(b.images.to(device_))) : x_weak;
    Tensor z = upsample_rows(head_->forward(x), V, h_, w_, H, W);  // (V·H·W, C)
    record_stats(y, z);
    const Tensor yd = y.to(device_);
    LossTerms t;
    Tensor ce = cross_entropy(z, yd, ce_);
    t.add("ce", ce_weight_ == 1.0 ? ce : mul(ce, ce_weight_));
    if (enabled_) {
      Tensor s = upsample_rows(pseudo_logits(x_weak, V), V, h_, w_, H, W);  // (V·H·W, C), p = softmax(s)
      if (proto_weight_ > 0.0) {
        Tensor pc = cross_entropy(s, yd, ce_);
        t.add("proto", proto_weight_ == 1.0 ? pc : mul(pc, proto_weight_));
      }
      // The unlabelled pixels come with the batch (found on the host by the loader); the image-split variant
      // relabels whole images, so it finds them itself (a read of y).
      const Tensor unl = image_split_ > 0.0 || !b.unlabelled_pixels.defined() ? erda::unlabelled_rows(y)
                                                                              : b.unlabelled_pixels.to(device_);
      Tensor r = all_rows_ ? Tensor() : unl;
      record_pseudo_stats(s, unl);
      t.add(erda::term_name(lo_.term), erda::erda_loss(z, s, r, lo_));
    }
    return t;
  }

  // The 2D predictions projected to the points (one-hot rows; see the top of the file); in eval mode the 2D
  // confusion matrix against the views' labels is accumulated on the way.
  Tensor logits(const Batch& b) override {
    NoGradGuard ng;
    check_views(b, "logits");
    const int64_t V = b.view_gt_labels.size(0), H = b.view_gt_labels.size(1), W = b.view_gt_labels.size(2);
    Tensor x = pixel_rows(b.images.to(device_));  // sets h_, w_
    Tensor z = upsample_rows(head_->forward(x), V, h_, w_, H, W);
    std::vector<int64_t> pred = to_i64(argmax(z, 1));  // (V·H·W)
    if (!net2d_->is_training()) {
      std::vector<int64_t> g64 = to_i64(b.view_gt_labels);
      std::vector<int32_t> p(pred.begin(), pred.end()), g(g64.begin(), g64.end());
      if (!cm2d_) cm2d_ = std::make_unique<ConfusionMatrix>(int(C_), -1);
      cm2d_->update(p.data(), g.data(), int64_t(p.size()));
      // ERDA mechanism on the held-out views (none of their pixels is labelled for training): argmax p, the
      // pseudo-labels from the class queries over each image, against the views' GT, next to the network's own
      // accuracy_2d on the same pixels.
      if (enabled_)
        p_acc_.add(upsample_rows(pseudo_logits(x, V), V, h_, w_, H, W), b.view_gt_labels.reshape(Shape{V * H * W}));
    }
    const int64_t N = b.num_points(), hw = H * W;
    std::vector<std::vector<int64_t>> per(static_cast<size_t>(V));
    if (b.pairs.defined()) {
      std::vector<int64_t> pr = to_i64(b.pairs);
      for (size_t i = 0; i + 2 < pr.size(); i += 3) {
        const int64_t pt = pr[i], px = pr[i + 1], vw = pr[i + 2];
        LESEG_CHECK(pt >= 0 && pt < N && px >= 0 && px < hw && vw >= 0 && vw < V, "erda2d: pair (", pt, ", ", px,
                    ", ", vw, ") outside the batch (", N, " points, ", V, " views of ", H, "x", W, ")");
        per[size_t(vw)].push_back(pt);
        per[size_t(vw)].push_back(px);
      }
    }
    std::vector<Tensor> pairs, labels;
    for (int64_t v = 0; v < V; ++v) {
      pairs.push_back(Tensor::from_vector(per[size_t(v)], Shape{int64_t(per[size_t(v)].size() / 2), 2}));
      labels.push_back(Tensor::from_vector(std::vector<int64_t>(pred.begin() + v * hw, pred.begin() + (v + 1) * hw), Shape{hw}));
    }
    std::vector<int64_t> pts = to_i64(project_pixel_labels(N, pairs, labels, C_));
    std::vector<float> onehot(size_t(N * C_), 0.0f);
    for (int64_t i = 0; i < N; ++i)
      if (pts[size_t(i)] >= 0) onehot[size_t(i * C_ + pts[size_t(i)])] = 1.0f;
    return Tensor::from_vector(onehot, Shape{N, C_}, device_);
  }

  void begin_eval() override {
    cm2d_.reset();
    p_acc_.reset();
  }
  nlohmann::json eval_metrics() override {
    nlohmann::json j = cm2d_ ? cm2d_->record("_2d") : nlohmann::json::object();
    p_acc_.write(j);  // p_acc, p_acc_n (pixels): absent when the query head is off (erda.enabled=false)
    p_acc_.reset();
    return j;
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> m = {{"net2d", net2d_}, {"head", head_}};
    if (proj_) m.emplace_back("proj", proj_);
    if (queries_) m.emplace_back("queries", queries_);
    return m;
  }
  std::vector<std::pair<std::string, Generator*>> generators() override {
    return {{"net2d_dropout", &net2d_->dropout_generator()}, {"controls", &control_gen_}, {"strong", &strong_gen_}};
  }
  // The statistics queued on the device during the step, read here (after the step, by the Trainer) in one read.
  nlohmann::json step_stats() const override {
    nlohmann::json j = nlohmann::json::object();
    stats_.write(j);
    return j;
  }

 private:
  void check_views(const Batch& b, const char* what) const {
    const std::string scene = b.scene_names.empty() ? "" : b.scene_names[0];
    LESEG_CHECK(b.num_views() > 0 && b.images.defined() && b.view_gt_labels.defined(), "erda2d ", what, ": batch (scene ",
                scene, ") has no views with label images: set data.views: true and use a dataset with RGB-D views "
                "and label.png per view");
    LESEG_CHECK(b.view_gt_labels.ndim() == 3 && b.images.ndim() == 4 && b.images.size(0) == b.view_gt_labels.size(0) &&
                    b.images.size(2) == b.view_gt_labels.size(1) && b.images.size(3) == b.view_gt_labels.size(2),
                "erda2d ", what, ": images ", b.images.shape().str(), " and view labels ", b.view_gt_labels.shape().str(),
                " disagree (batch of scene ", scene, ")");
  }

  // ASPP features as pixel rows (V·h·w, F); sets h_, w_.
  Tensor pixel_rows(const Tensor& images) {
    Tensor low = net2d_->run(images).features_lowres;  // (V, F, h, w)
    const int64_t V = low.size(0), F = low.size(1);
    h_ = low.size(2), w_ = low.size(3);
    return permute(low, {0, 2, 3, 1}).reshape(Shape{V * h_ * w_, F});
  }

  // s = cos(mlp2(x), P) / T at 1/os (V·h·w, C), P from the class queries over each image (or the batch).
  Tensor pseudo_logits(const Tensor& x, int64_t V) {
    const int64_t hw = h_ * w_;
    std::vector<int64_t> cu;
    if (per_image_)
      for (int64_t v = 0; v <= V; ++v) cu.push_back(v * hw);
    else
      cu = {0, V * hw};
    Tensor P = queries_->forward(x, cu);  // (B·C, F)
    Tensor s = queries_->similarity(proj_->forward(x), P, cu);
    return temperature_ == 1.0 ? s : div(s, temperature_);
  }

  Device device_ = Device::cpu();
  int64_t C_ = 0, h_ = 0, w_ = 0;
  std::shared_ptr<models::DeepLabV3> net2d_;
  std::shared_ptr<models::ProjectionHead> head_;
  std::shared_ptr<erda::ProjectionMLP2> proj_;
  std::shared_ptr<erda::QueryPrototypes> queries_;
  CrossEntropyOptions ce_;
  double ce_weight_ = 1.0, temperature_ = 1.0, proto_weight_ = 1.0;
  bool enabled_ = true, all_rows_ = false, per_image_ = true;
  erda::ErdaLossOptions lo_;
  std::unique_ptr<ConfusionMatrix> cm2d_;
  erda::PseudoLabelAccuracy p_acc_;
  controls::LabelSource label_source_ = controls::LabelSource::Pseudo;
  Generator control_gen_, strong_gen_;
  bool weak_to_strong_ = false;
  double image_split_ = 0.0;
  uint64_t split_seed_ = 0;
  PendingStats stats_;

  // Semi-supervised image split (ERDA's 2D protocol): a fixed fraction erda.image_split of the views keeps all its
  // (loader-made, e.g. 100%) pixel labels, the others none. A view is labelled when a hash of (run seed, scene,
  // view index in the scene) falls below the fraction: the same views in every epoch.
  Tensor split_images(const Batch& b, const Tensor& y, int64_t V, int64_t hw) const {
    std::vector<int64_t> lab = y.to_vector<int64_t>();
    std::vector<int32_t> vs = b.view_scene.to(Device::cpu()).to(DType::i32).to_vector<int32_t>(),
                         src = b.view_source.to(Device::cpu()).to(DType::i32).to_vector<int32_t>();
    for (int64_t v = 0; v < V; ++v) {
      uint64_t hsh = 1469598103934665603ULL ^ split_seed_;
      for (char c : b.scene_names.at(size_t(vs[size_t(v)])) + "/view" + std::to_string(src[size_t(v)]))
        hsh = (hsh ^ uint64_t(uint8_t(c))) * 1099511628211ULL;
      hsh ^= hsh >> 29;
      hsh *= 0xbf58476d1ce4e5b9ULL;
      hsh ^= hsh >> 32;
      if (double(hsh >> 11) / double(1ULL << 53) < image_split_) continue;
      std::fill(lab.begin() + v * hw, lab.begin() + (v + 1) * hw, int64_t(-1));
    }
    return Tensor::from_vector(lab, y.shape());
  }

  // Strong photometric augmentation of the (normalised) crops: per image contrast x[0.6, 1.4], brightness
  // +[-0.4, 0.4], per-pixel Gaussian noise sigma 0.2, and one cutout square of a quarter of the crop's side set to 0.
  Tensor strong_augment(const Tensor& images) {
    NoGradGuard ng;
    const int64_t V = images.size(0), Ch = images.size(1), H = images.size(2), W = images.size(3);
    std::vector<float> im = images.to(Device::cpu()).to(DType::f32).to_vector<float>();
    std::vector<double> r = uniform(Shape{V * 4}, 0.0, 1.0, strong_gen_, DType::f64).to_vector<double>();
    std::vector<float> nz = randn(Shape{V * Ch * H * W}, strong_gen_).to_vector<float>();
    const int64_t side = std::max<int64_t>(1, std::min(H, W) / 4);
    for (int64_t v = 0; v < V; ++v) {
      const double contrast = 0.6 + 0.8 * r[size_t(4 * v)], bright = -0.4 + 0.8 * r[size_t(4 * v + 1)];
      const int64_t cy = int64_t(r[size_t(4 * v + 2)] * double(H - side)), cx = int64_t(r[size_t(4 * v + 3)] * double(W - side));
      for (int64_t c = 0; c < Ch; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            const size_t i = size_t(((v * Ch + c) * H + y) * W + x);
            const bool cut = y >= cy && y < cy + side && x >= cx && x < cx + side;
            im[i] = cut ? 0.f : float(contrast * im[i] + bright + 0.2 * nz[i]);
          }
    }
    return Tensor::from_vector(im, images.shape(), device_);
  }

  void record_stats(const Tensor& labels, const Tensor& z) {
    stats_.clear();
    erda::labelled_fit_stats(labels, z, stats_);
  }
  // ERDA mechanism on the unlabelled rows: mean max p and mean H(p) of the pseudo-label distribution p.
  void record_pseudo_stats(const Tensor& pseudo_logits, const Tensor& rows) {
    erda::pseudo_distribution_stats(pseudo_logits, rows, stats_);
  }
};

}  // namespace

std::unique_ptr<Regime> make_erda2d_regime() { return std::make_unique<Erda2dRegime>(); }
}  // namespace leseg::train
