// SPDX-License-Identifier: Apache-2.0
// regime: erda (METHODS §2.6, REFERENCE-CODE §4, `LiyaoTang/ERDA` models/head.py [code]) — weak supervision with
// entropy-regularised distribution alignment of prototypical pseudo-labels.
//   f = backbone(voxels) (M, d), the last decoder features (d = 96 for MinkUNet14A);
//   z = classifier(f) (M, C) (models::ProjectionHead, with bias);
//   h = mlp2(f) (M, d) (erda::ProjectionMLP2: Linear, BN(eps 1e-6, TF decay 0.99), ReLU/LeakyReLU, Linear);
//   both mapped to the points through the inverse map (loss.resolution: point, default) or kept per voxel
//   (loss.resolution: voxel, labels = the loader's voxel_labels);
//   P (C, d): EMA (μ = 0.999) of the per-class mean of h over the labelled rows of the batch (global mode, ERDA's
//   Gsum/Gavg: every class updated, pseudo-labels of this step from the pre-update P), erda::PrototypeMemory;
//   p = softmax(cos(ĥ, P̂)) (no temperature);
//   loss terms:  "ce"   = loss.weight · CE(z, labels) over labelled rows (weak labels: the loader's
//                         data.weak_labels, e.g. "1%" = max(⌊0.01·n_c⌋, 1) points per scene and class, or "20pts");
//                <term> = w · mean_i −Σ_k p_ik log q_ik over the unlabelled rows (q = softmax(z)), on the fused
//                         soft-CE op; named after erda.term: "erda" (= H(p) + KL(p‖q), ER+DA), "er" (H(p) only)
//                         or "da" (KL(p‖q) only). erda.coadapt: gradient into p (true, ERDA's default) or a
//                         fixed target (false, the "stop-gradient into p" ablation).
//   Evaluation: argmax of the classifier logits per voxel (the trainer maps them to the points).
// Controls (docs/evidence.md): data.label_source: shuffled replaces the weak labels by random classes (negative
// control); gt is refused (the weak labels are GT: the positive control is every point labelled, data.weak_labels=).
// Stats (metrics.jsonl): labelled_fit (network accuracy on its labelled rows), labelled_fraction, p_max and
// p_entropy (mean max p and H(p) of the pseudo-label distribution on the unlabelled rows); in the eval record,
// p_acc / p_acc_n: accuracy of argmax p (current P, proj in eval mode) on the evaluation rooms' points, none of which
// is labelled for training (the training batches carry only the weak labels, so no GT exists there).
// The ERDA head is built only when erda.enabled (the CE-only baseline has no mlp2 / prototypes; the classifier
// is initialised before them, so the baseline and ERDA runs start from identical backbone + classifier weights).
// Config keys (defaults = ERDA's head string `pseudo-fout-pmlp2-mom-Gavg-normdot-w.1`):
//   model.* as regime supervised (model.name MinkUNet14A; model.planes / layers / init_dim for small nets);
//   loss.ignore_index (-1, must be < 0: unlabelled points are the ones with negative labels),
//   loss.label_smoothing (0), loss.weight (1), loss.resolution (point);
//   erda.enabled (true), erda.weight (0.1; 0.01 for ScanNet 20 points), erda.term (erda | er | da),
//   erda.coadapt (true), erda.momentum (0.999 | auto = 1 − 10/steps), erda.global (true), erda.proto_init (zeros | xavier: ERDA "-I"),
//   erda.activation (relu | lrelu), erda.rows (unlabelled | all: ERDA uses all points when fully supervised);
//   optim.* (train/regime.h).
// Not implemented: RandLA-Net's class weights 1/(freq + 0.02) (CloserLook / PT, like our MinkUNet, use plain
// CE). The 2D query-based variant is its own regime, `regime: erda2d` (train/regimes/erda2d.cpp); erda.variant
// query2d here is an error pointing there.

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/shape_ops.h"
#include "models/heads.h"
#include "models/registry.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "train/components/common.h"
#include "train/components/controls.h"
#include "train/components/erda.h"
#include "train/regime.h"

namespace leseg::train {
namespace {

class ErdaRegime : public Regime {
 public:
  std::string name() const override { return "erda"; }

  void build(const Config& cfg, const BuildContext& ctx) override {
    LESEG_CHECK(ctx.num_classes > 0, "erda: the dataset declares no classes");
    const std::string variant = cfg.get<std::string>("erda.variant", "3d");
    LESEG_CHECK(variant == "3d", "config: key 'erda.variant' = '", variant,
                "': regime erda is the 3D prototype variant (3d); the 2D query-based variant (query2d) is "
                "`regime: erda2d` (configs/erda2d_synthetic.yaml)");
    device_ = ctx.device;
    backbone_ = backbone_from_config(cfg, ctx, "erda", "MinkUNet14A", true);
    const int64_t d = backbone_.out_channels, C = ctx.num_classes;
    Generator gen(ctx.seed, 0x4ead);
    head_ = std::make_shared<models::ProjectionHead>(d, C, true, gen);  // first: same init as the baseline

    ce_.ignore_index = cfg.get<int64_t>("loss.ignore_index", -1);
    LESEG_CHECK(ce_.ignore_index < 0, "config: key 'loss.ignore_index' = ", ce_.ignore_index,
                ": regime erda treats negative labels as unlabelled, so the ignore index must be negative");
    ce_.label_smoothing = cfg.get<double>("loss.label_smoothing", 0.0);
    ce_weight_ = cfg.get<double>("loss.weight", 1.0);
    resolution_ = cfg.get<std::string>("loss.resolution", "point");
    LESEG_CHECK(resolution_ == "point" || resolution_ == "voxel",
                "config: key 'loss.resolution' must be point or voxel, got '", resolution_, "'");

    enabled_ = cfg.get<bool>("erda.enabled", true);
    lo_.weight = cfg.get<double>("erda.weight", 0.1);
    LESEG_CHECK(lo_.weight >= 0.0, "config: key 'erda.weight' must be >= 0, got ", lo_.weight);
    lo_.term = erda::parse_term(cfg.get<std::string>("erda.term", "erda"));
    lo_.coadapt = cfg.get<bool>("erda.coadapt", true);
    erda::PrototypeOptions po;
    po.num_classes = C;
    po.dim = d;
    // erda.momentum: a number (ERDA's 0.999 [code], set for runs of ~10^5 steps) or auto = 1 − 10 / steps
    po.momentum = ema_momentum_from_config(cfg, "erda.momentum", "0.999",
                                           ctx.epochs * std::max<int64_t>(ctx.steps_per_epoch, 1));
    po.global = cfg.get<bool>("erda.global", true);
    const std::string init = cfg.get<std::string>("erda.proto_init", "zeros");
    LESEG_CHECK(init == "zeros" || init == "xavier", "config: key 'erda.proto_init' must be zeros or xavier, got '", init, "'");
    po.xavier_init = init == "xavier";
    const std::string act = cfg.get<std::string>("erda.activation", "relu");
    LESEG_CHECK(act == "relu" || act == "lrelu", "config: key 'erda.activation' must be relu or lrelu, got '", act, "'");
    const std::string rows = cfg.get<std::string>("erda.rows", "unlabelled");
    LESEG_CHECK(rows == "unlabelled" || rows == "all", "config: key 'erda.rows' must be unlabelled or all, got '", rows, "'");
    all_rows_ = rows == "all";
    label_source_ = controls::label_source_from_config(cfg);
    LESEG_CHECK(label_source_ != controls::LabelSource::Gt, "config: key 'data.label_source' = gt: regime erda trains "
                "on ground-truth weak labels already; its positive control is every point labelled "
                "(data.weak_labels= with an empty value), see docs/evidence.md");
    control_gen_ = Generator(ctx.seed, 0xc0a7);
    if (enabled_) {
      proj_ = std::make_shared<erda::ProjectionMLP2>(d, gen, act == "lrelu");
      protos_ = std::make_shared<erda::PrototypeMemory>(po, gen);
      proj_->to(device_);
      protos_->to(device_);
    }
    backbone_.module->to(device_);
    head_->to(device_);

    std::vector<std::pair<std::string, Tensor>> params;
    for (auto& [n, p] : backbone_.module->named_parameters()) params.emplace_back("backbone." + n, p);
    for (auto& [n, p] : head_->named_parameters()) params.emplace_back("head." + n, p);
    if (proj_)
      for (auto& [n, p] : proj_->named_parameters()) params.emplace_back("proj." + n, p);
    optimizers_.push_back(build_optimizer_slot("model", cfg, "optim", params, ctx));
  }

  LossTerms step(const Batch& b, int64_t, int64_t) override {
    const std::string scene = b.scene_names.empty() ? std::string() : b.scene_names[0];
    LESEG_CHECK(b.labels.defined(), "erda: batch without labels (scene ", scene, ")");
    Tensor f = features(b);  // (M, d)
    Tensor z = head_->forward(f);
    Tensor h = proj_ ? proj_->forward(f) : Tensor();
    Tensor labels;
    if (resolution_ == "point") {
      Tensor inv = b.inverse.to(device_);
      z = index_select(z, 0, inv);  // (N, C)
      if (h.defined()) h = index_select(h, 0, inv);
      labels = b.labels;
    } else {
      labels = b.voxel_labels;
    }
    if (label_source_ == controls::LabelSource::Shuffled) {  // negative control: weak labels -> random classes
      // Drawn on the host from the batch's host original (no device read), uploaded with the step's other inputs.
      const Tensor& host = resolution_ == "point" ? b.host().labels : b.host().voxel_labels;
      const std::vector<int64_t> r = controls::apply(host_i64_values(host), nullptr, label_source_, z.size(1), control_gen_);
      labels = Tensor::from_vector(r, Shape{int64_t(r.size())}, device_).to(labels.dtype());
    }
    record_stats(labels, z);
    LossTerms t;
    Tensor ce = cross_entropy(z, labels.to(device_), ce_);
    t.add("ce", ce_weight_ == 1.0 ? ce : mul(ce, ce_weight_));
    if (enabled_) {
      Tensor s = protos_->step(h, labels.to(device_));  // pseudo-label logits (rows, C); P updated (EMA)
      // The unlabelled rows come with the batch (found on the host by the loader): no read of the labels here.
      const Tensor& given = resolution_ == "point" ? b.unlabelled_points : b.unlabelled_voxels;
      const Tensor unl = given.defined() ? given.to(device_) : erda::unlabelled_rows(labels);
      Tensor r = all_rows_ ? Tensor() : unl;
      record_pseudo_stats(s, unl);
      t.add(erda::term_name(lo_.term), erda::erda_loss(z, s, r, lo_));
    }
    return t;
  }

  std::vector<std::pair<std::string, Generator*>> generators() override { return {{"controls", &control_gen_}}; }
  // The statistics queued on the device during the step, read here (after the step, by the Trainer) in one read.
  nlohmann::json step_stats() const override {
    nlohmann::json j = nlohmann::json::object();
    stats_.write(j);
    return j;
  }

  Tensor logits(const Batch& b) override {
    NoGradGuard ng;
    Tensor f = features(b);
    if (evaluating_ && protos_ && b.labels.defined() && b.inverse.defined()) {
      // ERDA mechanism on the held-out rooms (no point of them is labelled for training): argmax p against GT
      Tensor s = protos_->similarity(proj_->forward(f));  // (M, C), the current P
      p_acc_.add(index_select(s, 0, b.inverse.to(device_)), b.labels);
    }
    return head_->forward(f);
  }
  void begin_eval() override {
    evaluating_ = true;
    p_acc_.reset();
  }
  nlohmann::json eval_metrics() override {
    evaluating_ = false;
    nlohmann::json j = nlohmann::json::object();
    p_acc_.write(j);
    p_acc_.reset();
    return j;
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> m = {{"backbone", backbone_.module}, {"head", head_}};
    if (proj_) m.emplace_back("proj", proj_);
    if (protos_) m.emplace_back("prototypes", protos_);
    return m;
  }

 private:
  Tensor features(const Batch& b) {
    SparseTensor x = b.input.device() == device_
                         ? b.input
                         : SparseTensor(b.input.coords().to(device_), b.input.feats().to(device_), b.input.stride(),
                                        b.input.num_batches());
    return backbone_.minkunet->forward(x).feats();
  }

  Device device_ = Device::cpu();
  models::Backbone backbone_;
  std::shared_ptr<models::ProjectionHead> head_;
  std::shared_ptr<erda::ProjectionMLP2> proj_;
  std::shared_ptr<erda::PrototypeMemory> protos_;
  CrossEntropyOptions ce_;
  double ce_weight_ = 1.0;
  std::string resolution_ = "point";
  bool enabled_ = true, all_rows_ = false;
  erda::ErdaLossOptions lo_;
  controls::LabelSource label_source_ = controls::LabelSource::Pseudo;
  Generator control_gen_;
  PendingStats stats_;
  erda::PseudoLabelAccuracy p_acc_;
  bool evaluating_ = false;

  // Labelled rows: the network's accuracy on its (weak, possibly shuffled) training labels ("labelled_fit":
  // watch it approach 1 as the labelled CE overfits) and the CE-free share of the batch.
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

std::unique_ptr<Regime> make_erda_regime() { return std::make_unique<ErdaRegime>(); }
}  // namespace leseg::train
