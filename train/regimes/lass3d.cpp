// SPDX-License-Identifier: Apache-2.0
// regime: lass3d (METHODS §2.5, REFERENCE-CODE §5; seed 000, no public code: numbers marked [reading] are
// config values). MeanTeacher semi-supervised segmentation with multi-level text fusion and progressive
// negative learning. One step on a batch of scenes (labelled scenes carry labels, the others are all -1 and
// flagged in Batch::scene_labelled by the loader's semi-supervised split, data.labelled_fraction):
//   student:  f = backbone(student view) (M, F);  f′ = SAAF(f, text keys) (lass3d.saaf; class text of the
//             dataset + scene captions of the views that see the voxel + object captions of the SAM masks it
//             falls in, train/components/lass3d.h); z_s = classifier(f′) (M, C) -> points via the inverse map.
//   teacher:  EMA of the student's backbone + classifier (no text branch), run without gradient on the second,
//             independently augmented view of the same scenes (Batch::teacher, data.two_views); z_t per point
//             through the teacher view's own inverse map (the point rows agree between the views).
//   terms:    ce        = CE(z_s, labels) over labelled points (ignore -1)                        × loss.ce_weight
//             pseudo_ce = CE(z_s, argmax z_t) over reliable points of unlabelled scenes           × loss.pseudo_weight
//             neg       = −mean log(1 − q_s[argmax z_t]) over the unreliable ones (lass3d.nl)     × loss.neg_weight
//                         reliable: max softmax(z_t) ≥ τ; τ linear τ0 → τ_end over the run (lass3d.tau.progressive)
//                         or fixed at τ0 (the "NL fixed" ablation row)
//             kd        = MSE(W f′_s, f_t) (or KL) per point, teacher features detached (lass3d.kd) × loss.kd_weight
//             the unlabelled terms (pseudo_ce, neg) are multiplied by MeanTeacher's sigmoid ramp-up
//             exp(−5 (1 − t)²), t = position / (lass3d.rampup × run length) clipped to 1 (lass3d.rampup = 0: off)
//   EMA:      teacher ← m·teacher + (1 − m)·student (teacher.momentum 0.99 [reading], LaserMix), applied right
//             after every optimizer step (Regime::after_optimizer_step), so evaluation and checkpoints after
//             step k see k updates. BN buffers are EMA'd too (teacher.ema_buffers) [reading]; the teacher's BNs
//             use batch statistics while training (teacher.bn: train, as CuriousAI's mean-teacher code) [reading].
//   Batches:  data.labelled_per_batch = 1 draws one labelled scene per batch from an endless stream over the
//             labelled split next to the unlabelled ones (io/loader/loader.h), as MeanTeacher codebases pair a
//             labelled and an unlabelled loader per step.
//   logits(): eval.model teacher (default [reading]: no text branch at test time) or student (SAAF with the
//             class text and whatever captions the batch carries). The 0.99 EMA lags ~100 optimizer steps: on
//             very short CPU budgets (< ~20 steps) the teacher is still close to its initialisation.
// State: every module (student, teacher, SAAF, KD head) is checkpointed; τ depends on (epoch, it) only and
// nothing here draws random numbers, so resume is bit-identical.
#include <algorithm>
#include <cmath>
#include <random>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/optim/ema.h"
#include "io/scene.h"
#include "models/heads.h"
#include "models/registry.h"
#include "train/components/common.h"
#include "train/components/lass3d.h"
#include "train/components/pending_stats.h"
#include "train/metrics.h"
#include "train/regime.h"

namespace leseg::train {
namespace {

class Lass3dRegime : public Regime {
 public:
  std::string name() const override { return "lass3d"; }

  void build(const Config& cfg, const BuildContext& ctx) override {
    LESEG_CHECK(ctx.num_classes > 0, "lass3d: the dataset declares no classes");
    device_ = ctx.device;
    num_classes_ = ctx.num_classes;
    epochs_ = std::max<int64_t>(ctx.epochs, 1);
    batches_per_epoch_ = std::max<int64_t>(ctx.steps_per_epoch, 1) * std::max(cfg.get<int>("train.accumulate", 1), 1);

    // switches (ablation rows: configs/ablate/lass3d.tsv)
    use_saaf_ = cfg.get<bool>("lass3d.saaf", true);
    use_nl_ = cfg.get<bool>("lass3d.nl", true);
    use_kd_ = cfg.get<bool>("lass3d.kd", true);
    scene_only_ = cfg.get<bool>("lass3d.scene_only", false);
    tau_ = lass3d::ThresholdSchedule(cfg.get<double>("lass3d.tau.start", 0.9), cfg.get<double>("lass3d.tau.end", 0.7),
                                     cfg.get<bool>("lass3d.tau.progressive", true));
    rampup_ = cfg.get<double>("lass3d.rampup", 0.0);
    LESEG_CHECK(rampup_ >= 0.0 && rampup_ <= 1.0, "config: key 'lass3d.rampup' = ", rampup_, " must lie in [0, 1]");
    // teacher.momentum: a number, or `auto` = 1 − 10 / (optimizer steps of the run), clamped to [0, 0.999]: the
    // teacher averages over about a tenth of the run whatever the budget (0.99 at 1000 steps; hand-set values
    // lag a short run by most of it).
    momentum_ = ema_momentum_from_config(cfg, "teacher.momentum", "0.99",
                                         ctx.epochs * std::max<int64_t>(ctx.steps_per_epoch, 1));
    ema_buffers_ = cfg.get<bool>("teacher.ema_buffers", true) ? EmaBuffers::ema : EmaBuffers::copy;
    const std::string tbn = cfg.get<std::string>("teacher.bn", "train");
    LESEG_CHECK(tbn == "train" || tbn == "eval", "config: key 'teacher.bn' must be train or eval, got '", tbn, "'");
    teacher_bn_train_ = tbn == "train";
    eval_model_ = cfg.get<std::string>("eval.model", "teacher");
    LESEG_CHECK(eval_model_ == "teacher" || eval_model_ == "student",
                "config: key 'eval.model' must be teacher or student, got '", eval_model_, "'");
    // read whatever the switches say, so that an ablation row never leaves a key unread
    const int64_t saaf_attn_dim = cfg.get<int64_t>("lass3d.saaf_attn_dim", 64);
    const int64_t saaf_heads = cfg.get<int64_t>("lass3d.saaf_heads", 4);
    const std::string saaf_mode = cfg.get<std::string>("lass3d.saaf_mode", "class_weighted");
    LESEG_CHECK(saaf_mode == "class_weighted" || saaf_mode == "mixed_attention",
                "config: key 'lass3d.saaf_mode' must be class_weighted or mixed_attention, got '", saaf_mode, "'");
    const double saaf_tau = cfg.get<double>("lass3d.saaf_caption_temperature", 0.07);
    LESEG_CHECK(saaf_tau > 0.0, "config: key 'lass3d.saaf_caption_temperature' must be > 0, got ", saaf_tau);
    const std::string kd_mode = cfg.get<std::string>("lass3d.kd_mode", "mse");
    LESEG_CHECK(kd_mode == "mse" || kd_mode == "kl", "config: key 'lass3d.kd_mode' must be mse or kl, got '", kd_mode, "'");
    const double kd_temperature = cfg.get<double>("lass3d.kd_temperature", 1.0);
    // KD's direction. text_to_backbone (default): the student's backbone features f, through the KD head, predict
    // its own text-enhanced features sg(f′) — the backbone learns the text-enhanced semantics without text, and
    // the EMA carries them into the teacher (the paper: "text-enhanced semantics in the student branch are
    // transferred to the teacher"). to_teacher: MSE(W f′_student, sg(f_teacher)), the earlier reading, which
    // pulls the text-enhanced features toward the text-free teacher (its cheapest minimiser switches SAAF off).
    const std::string kd_dir = cfg.get<std::string>("lass3d.kd_direction", "text_to_backbone");
    LESEG_CHECK(kd_dir == "text_to_backbone" || kd_dir == "to_teacher",
                "config: key 'lass3d.kd_direction' must be text_to_backbone or to_teacher, got '", kd_dir, "'");
    kd_to_teacher_ = kd_dir == "to_teacher";
    // Controls (issue 19's protocol, docs/evidence.md: data.label_source), applied to the teacher's pseudo-labels on
    // the unlabelled points. shuffled (negative control): each row's pseudo-label becomes a uniformly drawn class —
    // the teacher's logit columns of its argmax and of the drawn class are swapped, so the confidence (and with it
    // the reliable / unreliable split) is kept. permuted (a second negative control): each unlabelled point gets the
    // teacher logits of another unlabelled point of the batch (a random permutation: label frequencies and
    // confidences kept, the link to the point removed). gt is refused: the unlabelled scenes carry no point labels
    // in the batch; the positive control is every scene labelled (data.labelled_fraction=1).
    control_ = cfg.get<std::string>("data.label_source", "pseudo");
    LESEG_CHECK(control_ == "pseudo" || control_ == "shuffled" || control_ == "permuted",
                "config: key 'data.label_source' must be pseudo, shuffled or permuted for lass3d (the positive control is "
                "data.labelled_fraction=1), got '", control_, "'");
    control_seed_ = ctx.seed;
    ce_.ignore_index = cfg.get<int64_t>("loss.ignore_index", -1);
    w_ce_ = cfg.get<double>("loss.ce_weight", 1.0);
    w_pseudo_ = cfg.get<double>("loss.pseudo_weight", 1.0);
    w_neg_ = cfg.get<double>("loss.neg_weight", 1.0);
    w_kd_ = cfg.get<double>("loss.kd_weight", 1.0);

    // models: student, teacher (same initialisation, then a copy of the student's state)
    student_ = backbone_from_config(cfg, ctx, "lass3d", "MinkUNet14A", true);
    teacher_ = backbone_from_config(cfg, ctx, "lass3d", "MinkUNet14A", true);
    const int64_t F = student_.out_channels;
    Generator gen(ctx.seed, 0x1a55);
    classifier_ = std::make_shared<models::ProjectionHead>(F, ctx.num_classes, true, gen);
    teacher_classifier_ = std::make_shared<models::ProjectionHead>(F, ctx.num_classes, true, gen);
    ema_update(*teacher_.module, *student_.module, 0.0, EmaBuffers::copy);
    ema_update(*teacher_classifier_, *classifier_, 0.0, EmaBuffers::copy);

    if (use_saaf_) {
      // class text embeddings of the dataset (C, D), unit rows: <data.root>/text_embeddings.npy
      if (cfg.has("data.root")) {
        io::DatasetInfo info = io::read_dataset_info(cfg.get<std::string>("data.root"));
        class_text_ = info.text_embeddings;
      }
      LESEG_CHECK(class_text_.defined() && class_text_.ndim() == 2 && class_text_.size(0) == ctx.num_classes,
                  "lass3d: lass3d.saaf needs the dataset's class text embeddings (C = ", ctx.num_classes,
                  ", D) in <data.root>/text_embeddings.npy");
      class_text_ = class_text_.to(DType::f32).to(device_);
      lass3d::SaafOptions so;
      so.feat_dim = F;
      so.text_dim = class_text_.size(1);
      so.attn_dim = saaf_attn_dim;
      so.heads = saaf_heads;
      so.mode = saaf_mode == "class_weighted" ? lass3d::SaafMode::class_weighted : lass3d::SaafMode::mixed_attention;
      so.num_classes = ctx.num_classes;
      so.caption_temperature = saaf_tau;
      saaf_ = std::make_shared<lass3d::SAAF>(so, gen);
      saaf_->to(device_);
    }
    if (use_kd_) {
      kd_ = std::make_shared<lass3d::FeatureKD>(F, F, kd_mode == "mse" ? lass3d::KDMode::mse : lass3d::KDMode::kl, gen,
                                                kd_temperature);
      kd_->to(device_);
    }
    for (auto& m : std::vector<std::shared_ptr<Module>>{student_.module, teacher_.module, classifier_, teacher_classifier_})
      m->to(device_);

    std::vector<std::pair<std::string, Tensor>> params;
    for (auto& [n, p] : student_.module->named_parameters()) params.emplace_back("backbone." + n, p);
    for (auto& [n, p] : classifier_->named_parameters()) params.emplace_back("classifier." + n, p);
    if (saaf_)
      for (auto& [n, p] : saaf_->named_parameters()) params.emplace_back("saaf." + n, p);
    if (kd_)
      for (auto& [n, p] : kd_->named_parameters()) params.emplace_back("kd." + n, p);
    optimizers_.push_back(build_optimizer_slot("model", cfg, "optim", params, ctx));
  }

  // τ at batch `it` of `epoch` (linear over the whole run, counted in batches).
  double tau_at(int64_t epoch, int64_t it) const {
    return tau_.at(epoch * batches_per_epoch_ + it, epochs_ * batches_per_epoch_);
  }

  // MeanTeacher's sigmoid ramp-up of the unlabelled terms at batch `it` of `epoch`.
  double rampup_at(int64_t epoch, int64_t it) const {
    if (rampup_ <= 0.0) return 1.0;
    const double len = rampup_ * double(epochs_ * batches_per_epoch_);
    const double t = std::clamp(double(epoch * batches_per_epoch_ + it) / len, 0.0, 1.0);
    return std::exp(-5.0 * (1.0 - t) * (1.0 - t));
  }

  void after_optimizer_step(int64_t) override {
    ema_update(*teacher_.module, *student_.module, momentum_, ema_buffers_);
    ema_update(*teacher_classifier_, *classifier_, momentum_, ema_buffers_);
  }

  LossTerms step(const Batch& b, int64_t epoch, int64_t it) override {
    LESEG_CHECK(b.labels.defined(), "lass3d: batch without labels (scene ", b.scene_names.empty() ? "" : b.scene_names[0], ")");
    const Batch& tb = b.teacher ? *b.teacher : b;  // no second view: the teacher sees the student's view
    LESEG_CHECK(tb.num_points() == b.num_points(), "lass3d: teacher view has ", tb.num_points(), " points, student ",
                b.num_points());

    // student
    Tensor f = student_.minkunet->forward(on_device(b.input)).feats();  // (M, F)
    Tensor fs = saaf_ ? saaf_->forward(f, saaf_keys(b)) : f;            // (M, F) text-enhanced
    Tensor inv = b.inverse.to(device_);
    Tensor zs = index_select(classifier_->forward(fs), 0, inv);  // (N, C)

    // teacher (no graph)
    Tensor zt, ft;
    {
      NoGradGuard ng;
      teacher_.module->train(teacher_bn_train_ && student_.module->is_training());
      teacher_classifier_->train(teacher_.module->is_training());
      Tensor tinv = tb.inverse.to(device_);
      Tensor fv = teacher_.minkunet->forward(on_device(tb.input)).feats();
      zt = index_select(teacher_classifier_->forward(fv), 0, tinv);  // (N, C)
      if (kd_ && kd_to_teacher_) ft = index_select(fv, 0, tinv);     // (N, F)
    }

    LossTerms t;
    t.add("ce", scaled(cross_entropy(zs, b.labels.to(device_), ce_), w_ce_));

    // unlabelled scenes' points
    std::vector<int64_t> host_rows;
    Tensor rows = unlabelled_rows(b, host_rows);
    Tensor zs_u = rows.defined() ? index_select(zs, 0, rows) : zs;
    Tensor zt_u = rows.defined() ? index_select(zt, 0, rows) : zt;
    if (control_ == "permuted") zt_u = index_select(zt_u, 0, shuffled_rows(zt_u.size(0), epoch, it));
    if (control_ == "shuffled") zt_u = random_argmax(zt_u, epoch, it);
    const double tau = tau_at(epoch, it);
    lass3d::UnlabelledLoss ul = lass3d::unlabelled_loss(zs_u, zt_u, tau, use_nl_);
    if (student_.module->is_training()) {
      // Queued: the pseudo-label mechanism reads the split and the student's argmax after the step
      // (flush_mechanism: step_stats(), eval_metrics(), mechanism()); the GT is host data.
      if (ul.reliable.defined() && ul.pseudo_labels.defined()) {
        std::vector<int32_t> gt = unlabelled_gt(b, rows.defined() ? &host_rows : nullptr);
        pending_mechanism_.add({ul.reliable, ul.pseudo_labels, argmax(zs_u.detach(), 1)},
                               [this, gt](const std::vector<std::vector<double>>& v, nlohmann::json&) {
                                 const std::vector<uint8_t> rel(v[0].begin(), v[0].end());
                                 mechanism_.add(rel, std::vector<int64_t>(v[1].begin(), v[1].end()), gt,
                                                std::vector<int64_t>(v[2].begin(), v[2].end()));
                               });
      }
    }
    {  // mechanism statistics (leseg report): share of unlabelled points whose teacher confidence passes tau
      stats_ = {{"tau", tau}};
      pending_stats_.clear();
      if (ul.reliable.defined() && ul.reliable.numel() > 0)
        pending_stats_.ratio("reliable_fraction", sum(ul.reliable.detach().to(DType::f64)), double(ul.reliable.numel()));
    }
    const double ramp = rampup_at(epoch, it);
    t.add("pseudo_ce", scaled(ul.ce, w_pseudo_ * ramp));
    if (use_nl_) t.add("neg", scaled(ul.nl, w_neg_ * ramp));
    if (kd_) {
      // FeatureKD detaches its second argument: the gradient reaches the first side only.
      Tensor kd = kd_to_teacher_ ? kd_->loss(index_select(fs, 0, inv), ft)                       // W f′ -> sg(f_t)
                                 : kd_->loss(index_select(f, 0, inv), index_select(fs, 0, inv));  // W f -> sg(f′)
      t.add("kd", scaled(kd, w_kd_));
    }
    return t;
  }

  Tensor logits(const Batch& b) override {
    NoGradGuard ng;
    const bool teacher = eval_model_ == "teacher";
    Tensor z = teacher ? teacher_logits(b) : student_logits(b);
    // In evaluation, the other network is scored on the same points too (eval record: miou_student when the
    // teacher is evaluated, miou_teacher otherwise), so one run reports both.
    if (!student_.module->is_training() && b.labels.defined() && b.inverse.defined()) {
      Tensor zo = teacher ? student_logits(b) : teacher_logits(b);
      std::vector<int64_t> pv = argmax(zo.to(Device::cpu()), 1).to_vector<int64_t>();
      std::vector<int32_t> inv = b.inverse.to(DType::i32).to_vector<int32_t>(), gt = b.labels.to(DType::i32).to_vector<int32_t>();
      std::vector<int32_t> pred(inv.size());
      for (size_t i = 0; i < inv.size(); ++i) pred[i] = int32_t(pv[size_t(inv[i])]);
      if (!cm_other_) cm_other_ = std::make_unique<ConfusionMatrix>(int(num_classes_), int(ce_.ignore_index));
      cm_other_->update(pred.data(), gt.data(), int64_t(pred.size()));
    }
    return z;
  }
  void begin_eval() override { cm_other_.reset(); }
  nlohmann::json eval_metrics() override {
    nlohmann::json j =
        cm_other_ ? cm_other_->record(eval_model_ == "teacher" ? "_student" : "_teacher") : nlohmann::json::object();
    flush_mechanism();
    const nlohmann::json mech = mechanism_.record();  // named: items() of a temporary would dangle in the loop
    for (auto& [k, v] : mech.items()) j[k] = v;
    mechanism_ = lass3d::PseudoLabelMechanism();  // each evaluation reports the training steps since the previous one
    return j;
  }

  Tensor teacher_logits(const Batch& b) {
    return teacher_classifier_->forward(teacher_.minkunet->forward(on_device(b.input)).feats());
  }
  // The student with its text branch when SAAF is on (the scene's captions are an input at test time too).
  Tensor student_logits(const Batch& b) {
    Tensor f = student_.minkunet->forward(on_device(b.input)).feats();
    return classifier_->forward(saaf_ ? saaf_->forward(f, saaf_keys(b)) : f);
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override {
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> m = {
        {"backbone", student_.module}, {"classifier", classifier_},
        {"teacher", teacher_.module}, {"teacher_classifier", teacher_classifier_}};
    if (saaf_) m.emplace_back("saaf", saaf_);
    if (kd_) m.emplace_back("kd", kd_);
    return m;
  }

  // Per-voxel text key sets: the class text for every voxel; scene caption v for every voxel with a point
  // paired in view v; object caption k for every voxel with a point whose pixel lies in k's SAM mask.
  lass3d::SaafKeys saaf_keys(const Batch& b) const {
    const int64_t M = b.num_voxels();
    Tensor scene_links, object_links, scene_caps, object_caps;
    // Host data throughout (the batch's host original and the links built from it): no device read.
    const Batch& hb = b.host();
    HostMemoryRead host;
    if (b.pairs.defined() && b.pairs.size(0) > 0 && b.caption_scene.defined()) {
      const std::vector<int64_t> pr = host_i64_values(hb.pairs);
      const std::vector<int64_t> inv = host_i64_values(hb.inverse);
      const int64_t P = b.pairs.size(0);
      std::vector<int64_t> sl(size_t(2 * P));
      for (int64_t i = 0; i < P; ++i) {
        sl[size_t(2 * i)] = inv[size_t(pr[size_t(3 * i)])];
        sl[size_t(2 * i + 1)] = pr[size_t(3 * i + 2)];  // caption row = view row
      }
      scene_links = Tensor::from_vector(sl, Shape{P, 2});
      scene_caps = b.caption_scene.to(DType::f32).to(device_);
      if (!scene_only_ && b.caption_objects.defined() && b.caption_objects.size(0) > 0 && b.view_sam_masks.defined()) {
        const int64_t hw = b.view_sam_masks.size(1) * b.view_sam_masks.size(2);
        std::vector<int64_t> vp(size_t(2 * P));  // (voxel, pixel in the flattened (V·h·w) masks)
        for (int64_t i = 0; i < P; ++i) {
          vp[size_t(2 * i)] = inv[size_t(pr[size_t(3 * i)])];
          vp[size_t(2 * i + 1)] = pr[size_t(3 * i + 2)] * hw + pr[size_t(3 * i + 1)];
        }
        object_links = lass3d::link_object_captions(Tensor::from_vector(vp, Shape{P, 2}),
                                                    hb.view_sam_masks.reshape(Shape{-1}), hb.caption_object_ids, 0);
        object_caps = b.caption_objects.to(DType::f32).to(device_);
      }
    }
    return lass3d::build_saaf_keys(M, class_text_, scene_caps, scene_links, object_caps, object_links, scene_only_);
  }

  // The statistics of the last step (queued ones read here, after the step) and the mechanism's queued rows.
  nlohmann::json step_stats() const override {
    nlohmann::json j = stats_;
    PendingStats all = pending_stats_;
    all.append(pending_mechanism_);  // one read for both
    pending_mechanism_.clear();
    all.write(j);
    return j;
  }
  const lass3d::PseudoLabelMechanism& mechanism() const {
    flush_mechanism();
    return mechanism_;
  }

 private:
  // A permutation of n rows, drawn from (run seed, epoch, batch) so that resume stays bit-identical.
  Tensor shuffled_rows(int64_t n, int64_t epoch, int64_t it) const {
    std::vector<int64_t> p(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
    std::mt19937_64 rng(control_seed_ * 0x9E3779B97F4A7C15ULL ^ (uint64_t(epoch) << 32) ^ uint64_t(it) ^ 0x5a1fULL);
    for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(std::uniform_int_distribution<int64_t>(0, i)(rng))]);
    return Tensor::from_vector(p, Shape{n}, device_);
  }
  // (R, C) logits with each row's argmax column swapped with a uniformly drawn class (seeded like shuffled_rows).
  // The classes are drawn on the host (one per row, whatever the logits: the same draws as a host swap) and the
  // swap runs on the device: the first maximum of each row (std::max_element's tie rule) trades places with the
  // drawn column, so the teacher's logits are never read back.
  Tensor random_argmax(const Tensor& z, int64_t epoch, int64_t it) const {
    std::mt19937_64 rng(control_seed_ * 0x9E3779B97F4A7C15ULL ^ (uint64_t(epoch) << 32) ^ uint64_t(it) ^ 0x5a2fULL);
    std::uniform_int_distribution<int64_t> cls(0, z.size(1) - 1);
    std::vector<int64_t> drawn(static_cast<size_t>(z.size(0)));
    for (auto& c : drawn) c = cls(rng);
    return lass3d::swap_argmax_with(z, drawn);
  }
  // Ground truth of the unlabelled rows for the mechanism statistics only (never a loss): an unlabelled scene's
  // point labels are -1 in the batch, so the class is read from the view label image at the pixel a view pairs
  // the point with (the depth test keeps only visible points, whose pixel shows them); -1 where no view pairs it.
  // `rows`: the host rows (nullptr = every point). Host data only (the batch's host original).
  std::vector<int32_t> unlabelled_gt(const Batch& b, const std::vector<int64_t>* rows) const {
    const int64_t n = rows ? int64_t(rows->size()) : b.num_points();
    std::vector<int32_t> gt(size_t(n), -1);
    if (!b.pairs.defined() || !b.view_gt_labels.defined() || b.pairs.size(0) == 0) return gt;
    std::vector<int64_t> pos(size_t(b.num_points()), -1);
    if (rows) {
      for (size_t k = 0; k < rows->size(); ++k) pos[size_t((*rows)[k])] = int64_t(k);
    } else {
      for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = i;
    }
    const std::vector<int64_t> pr = host_i64_values(b.host().pairs), g = host_i64_values(b.host().view_gt_labels);
    const int64_t hw = b.view_gt_labels.size(1) * b.view_gt_labels.size(2);
    for (size_t i = 0; i + 2 < pr.size(); i += 3) {
      const int64_t k = pos[size_t(pr[i])];
      if (k >= 0 && gt[size_t(k)] < 0) gt[size_t(k)] = int32_t(g[size_t(pr[i + 2] * hw + pr[i + 1])]);
    }
    return gt;
  }

  nlohmann::json stats_ = nlohmann::json::object();
  PendingStats pending_stats_;
  // Mechanism rows queued in the steps and counted into mechanism_ when read (step_stats(), eval_metrics(),
  // mechanism()): the reliable mask, the teacher's and the student's argmax stay on the device until then.
  mutable PendingStats pending_mechanism_;
  void flush_mechanism() const {
    nlohmann::json unused = nlohmann::json::object();
    pending_mechanism_.write(unused);
    pending_mechanism_.clear();
  }
  SparseTensor on_device(const SparseTensor& x) const {
    if (x.device() == device_) return x;
    return SparseTensor(x.coords().to(device_), x.feats().to(device_), x.stride(), x.num_batches());
  }
  static Tensor scaled(const Tensor& x, double w) { return w == 1.0 ? x : mul(x, w); }
  // Point rows of the unlabelled scenes (undefined when every scene is unlabelled: all rows), on the device, and the
  // same rows in `rows` on the host.
  Tensor unlabelled_rows(const Batch& b, std::vector<int64_t>& rows) const {
    rows.clear();
    bool all = true;
    for (int64_t s = 0; s < b.num_scenes; ++s) all = all && !(size_t(s) < b.scene_labelled.size() && b.scene_labelled[size_t(s)]);
    if (all) return Tensor();
    for (int64_t s = 0; s < b.num_scenes; ++s)
      if (!b.scene_labelled[size_t(s)])
        for (int64_t i = b.point_offsets[size_t(s)]; i < b.point_offsets[size_t(s) + 1]; ++i) rows.push_back(i);
    return Tensor::from_vector(rows, Shape{int64_t(rows.size())}, device_);
  }

  Device device_ = Device::cpu();
  models::Backbone student_, teacher_;
  std::shared_ptr<models::ProjectionHead> classifier_, teacher_classifier_;
  std::shared_ptr<lass3d::SAAF> saaf_;
  std::shared_ptr<lass3d::FeatureKD> kd_;
  Tensor class_text_;
  lass3d::ThresholdSchedule tau_;
  CrossEntropyOptions ce_;
  EmaBuffers ema_buffers_ = EmaBuffers::ema;
  std::string eval_model_ = "teacher";
  double rampup_ = 0.0, momentum_ = 0.99, w_ce_ = 1, w_pseudo_ = 1, w_neg_ = 1, w_kd_ = 1;
  int64_t epochs_ = 1, batches_per_epoch_ = 1;
  bool use_saaf_ = true, use_nl_ = true, use_kd_ = true, scene_only_ = false, teacher_bn_train_ = true;
  bool kd_to_teacher_ = false;
  std::string control_ = "pseudo";
  uint64_t control_seed_ = 0;
  mutable lass3d::PseudoLabelMechanism mechanism_;
  int64_t num_classes_ = 0;
  std::unique_ptr<ConfusionMatrix> cm_other_;
};

}  // namespace

std::unique_ptr<Regime> make_lass3d_regime() { return std::make_unique<Lass3dRegime>(); }
}  // namespace leseg::train
