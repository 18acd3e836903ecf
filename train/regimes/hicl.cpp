// SPDX-License-Identifier: Apache-2.0
// regime: hicl (METHODS §2.3, REFERENCE-CODE §2; paper reading, no public code) — hierarchical intra-modal
// correlation learning on top of the CLIP2Scene objective (train/regimes/label_free.h).
//   (1) intra-set refinement (hicl.intra_set): the pair labels of every geometric consistency set
//       (Batch::segments: the dataset's segments, else the loader's over-segmentation) are replaced by the
//       set's mode (hicl::refine_by_sets over pairs: each paired pixel label is one vote), per image
//       (hicl.vote: per_view, HICL §3.2: a set votes separately in each view) or pooled over all views of the
//       batch (hicl.vote: pooled, a stated variant); pairs of points in
//       no set keep their label. Per-point refined label = mode over the point's pairs (-1 when unpaired).
//   (2) intra-scene transformer (hicl.intra_scene): M = hicl.samples points per scene with a refined label,
//       per set proportionally (hicl::sample_batch); tokens = the 3D model's text-space features f at those
//       points (gradient flows into the 3D model [reading]; hicl.detach_tokens: true stops it), positions =
//       the Batch's xyz; outputs classified against T (same TextLogitHead), CE to the refined labels.
//   (3) inter-scene transformer (hicl.inter_scene): one sequence over all sampled points of the batch; its
//       input is the intra-scene output when (2) is on, else f [reading: the hierarchy stacks them].
//   (4) feedback (hicl.feedback): KL(teacher ‖ student)·T²/S with teacher = the final output (the inter-scene
//       logits when (3) is on, else the intra-scene ones; hicl.feedback_teacher: mean = mean of both, a variant)
//       (detached), student = z of the 3D model at the sampled points (hicl::feedback_kl, DistillKL [code]).
//   Transformer block (transformer.block): eq3 (HICL Eq. 3, identity at init, models/transformer.h) | prenorm.
//   Controls and mechanism: data.label_source and target stats as label_free.h; plus model_miou_sampled /
//   intra_miou_sampled / inter_miou_sampled (GT mIoU of argmax at the sampled points).
//   Loss weighting: loss.average divides every active term by their count; loss.average_ce: false keeps the
//   3D CE at weight loss.ce_weight (only the transformer / KL terms are averaged).
//   Schedule (0-based epochs): "ce" always; the transformer terms from hicl.intra_from (paper: epoch 11 = 10);
//   "kl" from hicl.kl_from (paper: epoch 20 = 19). With loss.average: true (paper: "losses averaged") each
//   active term among ce / intra_ce / inter_ce / kl is divided by their count [reading].
//   Self-training switch: inherited from CLIP2Scene [reading: the paper builds on its objective]; when it
//   fires, the 3D CE target is argmax z; the transformers keep the refined CLIP labels.
//   Optimizers: slot "model" (optim.*: SGD lr 0.2 in the paper, cosine) for backbone + heads; slot
//   "transformers" (optim_transformer.*: AdamW lr 2e-4, cosine) for both transformers; their schedule starts when
//   their stage starts (hicl.transformer_sched: stage, default: built over epochs intra_from..end, lr = base lr
//   until then and at the stage's first step; run: over the whole run from step 0, the previous behaviour). Only the 3D model
//   is used by logits() (inference).
// Loss terms (already weighted): ce, [spatial], intra_ce, inter_ce, kl.
#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/error.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "models/transformer.h"
#include "train/components/hicl.h"
#include "train/regimes/label_free.h"

namespace leseg::train {
namespace {

class HiclRegime : public label_free::LabelFreeRegime {
 public:
  std::string name() const override { return "hicl"; }

  void build(const Config& cfg, const BuildContext& ctx) override {
    build_base(cfg, ctx);
    intra_set_ = cfg.get<bool>("hicl.intra_set", true);
    sched_.use_intra_scene = cfg.get<bool>("hicl.intra_scene", true);
    sched_.use_inter_scene = cfg.get<bool>("hicl.inter_scene", true);
    sched_.use_feedback = cfg.get<bool>("hicl.feedback", true);
    sched_.intra_from = cfg.get<int>("hicl.intra_from", 10);
    sched_.kl_from = cfg.get<int>("hicl.kl_from", 19);
    samples_ = cfg.get<int64_t>("hicl.samples", 1024);
    LESEG_CHECK(samples_ >= 1, "config: key 'hicl.samples' must be >= 1, got ", samples_);
    detach_tokens_ = cfg.get<bool>("hicl.detach_tokens", false);
    kl_temperature_ = cfg.get<double>("hicl.kl_temperature", 1.0);
    average_ = cfg.get<bool>("loss.average", true);
    average_ce_ = cfg.get<bool>("loss.average_ce", true);
    const std::string vote = cfg.get<std::string>("hicl.vote", "per_view");
    LESEG_CHECK(vote == "per_view" || vote == "pooled", "config: key 'hicl.vote' must be per_view or pooled, got '",
                vote, "'");
    vote_per_view_ = vote == "per_view";
    const std::string teacher = cfg.get<std::string>("hicl.feedback_teacher", "final");
    LESEG_CHECK(teacher == "final" || teacher == "mean", "config: key 'hicl.feedback_teacher' must be final or mean, "
                "got '", teacher, "'");
    teacher_mean_ = teacher == "mean";
    w_intra_ = cfg.get<double>("loss.intra_weight", 1.0);
    w_inter_ = cfg.get<double>("loss.inter_weight", 1.0);
    w_kl_ = cfg.get<double>("loss.kl_weight", 1.0);

    models::TransformerConfig tc;
    const std::string block = cfg.get<std::string>("transformer.block", "eq3");
    LESEG_CHECK(block == "eq3" || block == "prenorm", "config: key 'transformer.block' must be eq3 or prenorm, got '",
                block, "'");
    tc.block = block == "eq3" ? models::TransformerBlockKind::Eq3 : models::TransformerBlockKind::PreNorm;
    tc.dim = text_->text_embeddings().size(1);
    tc.heads = cfg.get<int64_t>("transformer.heads", 8);
    tc.layers = cfg.get<int64_t>("transformer.layers", 3);
    tc.mlp_ratio = cfg.get<int64_t>("transformer.mlp_ratio", 4);
    tc.pos_hidden = cfg.get<int64_t>("transformer.pos_hidden", 64);
    tc.dropout = cfg.get<double>("transformer.dropout", 0.0);
    LESEG_CHECK(tc.heads >= 1 && tc.dim % tc.heads == 0, "config: key 'transformer.heads' = ", tc.heads,
                " must divide the text dimension ", tc.dim);
    std::vector<std::pair<std::string, Tensor>> tp;
    if (sched_.use_intra_scene) {
      tc.seed = ctx.seed * 1000003 + 1;
      intra_ = std::make_shared<models::TransformerEncoder>(tc);
      intra_->to(device_);
      for (auto& [n, p] : intra_->named_parameters()) tp.emplace_back("intra." + n, p);
    }
    if (sched_.use_inter_scene) {
      tc.seed = ctx.seed * 1000003 + 2;
      inter_ = std::make_shared<models::TransformerEncoder>(tc);
      inter_->to(device_);
      for (auto& [n, p] : inter_->named_parameters()) tp.emplace_back("inter." + n, p);
    }
    const std::string ts = cfg.get<std::string>("hicl.transformer_sched", "stage");
    LESEG_CHECK(ts == "stage" || ts == "run", "config: key 'hicl.transformer_sched' must be stage or run, got '", ts, "'");
    if (!tp.empty()) {
      // The transformers' schedule starts with their stage (hicl.transformer_sched: stage, default) or counts from
      // step 0 like the 3D model's (run, the previous behaviour): built over the stage's length, then delayed.
      const int64_t start_epoch = std::clamp<int64_t>(sched_.intra_from, 0, std::max<int64_t>(ctx.epochs - 1, 0));
      if (ts == "stage" && start_epoch > 0) {
        BuildContext stage_ctx = ctx;
        stage_ctx.epochs = ctx.epochs - start_epoch;
        OptimizerSlot slot = build_optimizer_slot("transformers", cfg, "optim_transformer", tp, stage_ctx);
        if (slot.scheduler) {
          const int64_t delay = slot.per_epoch ? start_epoch : start_epoch * ctx.steps_per_epoch;
          slot.scheduler = std::make_unique<hicl::DelayedLR>(*slot.optimizer, std::move(slot.scheduler), delay);
        }
        optimizers_.push_back(std::move(slot));
      } else {
        optimizers_.push_back(build_optimizer_slot("transformers", cfg, "optim_transformer", tp, ctx));
      }
    } else if (cfg.has("optim_transformer")) {
      // Both transformers ablated: the optim_transformer section is accepted unread, so one config serves
      // every ablation row (reading the section as a whole marks its keys used; its value is not a string).
      try {
        (void)cfg.get<std::string>("optim_transformer", "");
      } catch (const Error&) {
      }
    }
    sample_gen_ = Generator(ctx.seed, 0x41c1);
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override {
    auto m = LabelFreeRegime::modules();
    if (intra_) m.emplace_back("intra", intra_);
    if (inter_) m.emplace_back("inter", inter_);
    return m;
  }
  std::vector<std::pair<std::string, Generator*>> generators() override {
    auto g = LabelFreeRegime::generators();
    g.emplace_back("sampling", &sample_gen_);
    return g;
  }

  // Pair targets after intra-set refinement (i64, CPU), and the per-point refined labels (N,) i64.
  struct Targets {
    Tensor pair_labels, point_labels;
  };
  Targets refined_targets(const Batch& b, const label_free::PairTargets& pt) const {
    Targets t;
    t.pair_labels = pt.labels;
    if (intra_set_) {
      LESEG_CHECK(b.segments.defined(), "hicl: hicl.intra_set needs geometric segments in the batch (the scenes "
                  "have none: generate them, or set hicl.intra_set: false)");
      // Host data throughout (the batch's host original, the pair targets built from it): no device read.
      HostMemoryRead host;
      Tensor sets = index_select(b.host().segments.to(DType::i64), 0, pt.points);
      if (vote_per_view_) {  // HICL §3.2: one vote per projected set in each image: key (set, view)
        std::vector<int64_t> sv = host_i64_values(sets), vw = host_i64_values(pt.views);
        const int64_t V = std::max<int64_t>(1, b.num_views());
        for (size_t i = 0; i < sv.size(); ++i)
          if (sv[i] >= 0) sv[i] = sv[i] * V + vw[i];
        sets = Tensor::from_vector(sv, sets.shape());
      }
      t.pair_labels = hicl::refine_by_sets(pt.labels, sets, num_classes());
    }
    // Per point: mode over its pairs (the same label for every pair of a point in a set).
    HostMemoryRead host;  // host tensors (pair targets): the vote runs on the host
    Tensor per_pair = hicl::refine_by_sets(t.pair_labels, pt.points, num_classes());
    std::vector<int64_t> lab(size_t(b.num_points()), -1), pts = host_i64_values(pt.points),
        pl = host_i64_values(per_pair);
    for (size_t i = 0; i < pts.size(); ++i) lab[size_t(pts[i])] = pl[i];
    t.point_labels = Tensor::from_vector(lab, Shape{b.num_points()});
    return t;
  }

  LossTerms step(const Batch& b, int64_t epoch, int64_t) override {
    label_free::Forward fw = forward(b);
    label_free::PairTargets pt = training_pairs(b);
    Targets tg = refined_targets(b, pt);
    record_target_stats(b, fw, pt, tg.pair_labels);
    const bool own = switch_.use_prediction(int(epoch), switch_gen_);
    const hicl::Stage st = sched_.at(int(epoch));
    const int active = 1 + int(st.intra) + int(st.inter) + int(st.kl);
    const double avg = average_ ? 1.0 / active : 1.0;

    LossTerms t;
    Tensor ce = pair_ce(fw, pt, tg.pair_labels, own);
    t.add("ce", ce * (ce_weight_ * (average_ce_ ? avg : 1.0)));
    if (spatial_) t.add("spatial", spatial_loss(b, fw, pt) * spatial_weight_);
    if (!st.transformers()) return t;

    // Sampling runs on the host over host data (the batch's host original, the refined targets).
    Tensor sets = b.segments.defined() ? b.host().segments.to(DType::i64)
                                       : Tensor::full(Shape{b.num_points()}, -1.0, DType::i64);
    Tensor offsets = Tensor::from_vector(b.point_offsets, Shape{int64_t(b.point_offsets.size())});
    hicl::PackedSamples ps;
    {
      HostMemoryRead host;
      ps = hicl::sample_batch(sets, tg.point_labels, offsets, samples_, sample_gen_);
    }
    const int64_t S = ps.index.numel();
    if (S == 0) {  // no paired point with a label in the whole batch: the terms are present and zero
      Tensor zero = sum(fw.z) * 0.0;
      if (st.intra) t.add("intra_ce", zero);
      if (st.inter) t.add("inter_ce", zero);
      if (st.kl) t.add("kl", zero);
      return t;
    }
    Tensor rows = on_device(rows_of_points(b, ps.index));
    Tensor tokens = index_select(fw.f, 0, rows);  // (S, D)
    if (detach_tokens_) tokens = tokens.detach();
    Tensor xyz = index_select(on_device(b.points), 0, on_device(ps.index));  // (S, 3)
    Tensor y = on_device(index_select(tg.point_labels, 0, ps.index));       // (S,)
    Tensor z_intra, z_inter;
    Tensor h = tokens;
    if (st.intra) {
      h = intra_->forward(tokens, xyz, attention_offsets(host_i64_values(ps.cu_intra), device_));
      z_intra = text_->forward(h);
      t.add("intra_ce", cross_entropy(z_intra, y) * (w_intra_ * avg));
    }
    if (st.inter) {
      Tensor h2 = inter_->forward(h, xyz, attention_offsets(host_i64_values(ps.cu_inter), device_));
      z_inter = text_->forward(h2);
      t.add("inter_ce", cross_entropy(z_inter, y) * (w_inter_ * avg));
    }
    record_sample_stats(b, fw, rows, ps.index, z_intra, z_inter);
    if (st.kl) {
      // Teacher: the final (last active, inter-scene) output [paper Eq. 8 "final aggregated feature"];
      // hicl.feedback_teacher: mean = the mean of both transformer outputs (a stated variant).
      Tensor teacher = teacher_mean_ ? hicl::aggregate_logits(z_intra, z_inter)
                                     : (z_inter.defined() ? z_inter.detach() : z_intra.detach());
      Tensor student = index_select(fw.z, 0, rows);
      t.add("kl", hicl::feedback_kl(student, teacher, kl_temperature_) * (w_kl_ * avg));
    }
    return t;
  }

  const hicl::StageSchedule& schedule() const { return sched_; }

  // HICL mechanism: mIoU (vs GT) of the transformers' and of the 3D model's argmax at the sampled points.
  void record_sample_stats(const Batch& b, const label_free::Forward& fw, const Tensor& rows, const Tensor& index,
                           const Tensor& z_intra, const Tensor& z_inter) {
    if (!b.labels.defined()) return;
    NoGradGuard ng;
    const std::vector<int64_t> gt = host_i64_values(b.host().labels), idx = host_i64_values(index);
    std::vector<int64_t> g(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) g[i] = gt[size_t(idx[i])];
    const Tensor gg = Tensor::from_vector(g, Shape{int64_t(g.size())});
    const int64_t C = num_classes();
    // Queued: the argmaxes stay on the device until step_stats() (after the step) reads them with the other
    // statistics in one read and scores them on the host.
    std::vector<Tensor> preds{argmax(index_select(fw.z.detach(), 0, rows), 1)};
    if (z_intra.defined()) preds.push_back(argmax(z_intra.detach(), 1));
    if (z_inter.defined()) preds.push_back(argmax(z_inter.detach(), 1));
    const bool intra = z_intra.defined(), inter = z_inter.defined();
    pending_stats_.add(preds, [gg, C, intra, inter](const std::vector<std::vector<double>>& v, nlohmann::json& j) {
      const auto score = [&](const std::vector<double>& p) {
        const std::vector<int64_t> pi(p.begin(), p.end());
        return controls::agreement(Tensor::from_vector(pi, Shape{int64_t(pi.size())}), gg, C).miou;
      };
      size_t k = 0;
      j["model_miou_sampled"] = score(v[k++]);
      if (intra) j["intra_miou_sampled"] = score(v[k++]);
      if (inter) j["inter_miou_sampled"] = score(v[k++]);
    });
  }

 private:
  bool intra_set_ = true, detach_tokens_ = false, average_ = true, average_ce_ = true, vote_per_view_ = true,
       teacher_mean_ = false;
  hicl::StageSchedule sched_;
  int64_t samples_ = 1024;
  double kl_temperature_ = 1.0, w_intra_ = 1.0, w_inter_ = 1.0, w_kl_ = 1.0;
  std::shared_ptr<models::TransformerEncoder> intra_, inter_;
  Generator sample_gen_;
};

}  // namespace

std::unique_ptr<Regime> make_hicl_regime() { return std::make_unique<HiclRegime>(); }
}  // namespace leseg::train
