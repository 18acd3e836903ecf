// SPDX-License-Identifier: Apache-2.0
// Shared base of the label-free regimes clip2scene and hicl (METHODS §2.2–2.3, REFERENCE-CODE §1.5, §2).
// No ground-truth label is read in training (Batch::labels is left alone; it serves evaluation only).
//   backbone   MinkUNet (per-voxel features, mapped to points through Batch::inverse) or SPVCNN (per-point
//              features from the Batch's points); `model.*` keys as in regime supervised, plus SPVCNN.
//   heads      final: Linear(C_b, D) to the text space ("final" 1x1 conv, bias on as in
//              MinkUNet's `final` 1x1 conv [code]); local: Linear(C_b, F) for the spatial loss.
//   text       T (C, D) = the dataset's fixed unit-norm class text embeddings (BuildContext::text_embeddings),
//              z = f·Tᵀ / loss.temperature (1: none, as coded) — models::TextLogitHead.
//   pairs      every (point, pixel, view) pair of the Batch whose crop pixel carries a CLIP label (-1 = none
//              in our format is dropped; CLIP2Scene's MaskCLIP argmax never lacks one) gives one CE row
//              z[row(point)] vs label — one row per pair, so a point seen in k views counts k times [code].
//   spatial    CLIP2Scene's spatial loss as coded (REFERENCE-CODE §1.5 `scannet_loss`, §1.2 `image_mapping_local`):
//              L_sp = mean over pairs (1 − cos(local(point), g(pixel))), the target detached. loss.spatial_target:
//              `clip` (default): g = W_img · c(pixel), c = the view's dense CLIP pixel features (clip_feat.npy,
//              Batch::view_clip_features, (V, hc, wc, D) over the crop) bilinearly sampled at the pair's crop pixel
//              (align_corners = False, as the loader's crop), W_img a frozen, randomly initialised D -> F map
//              (CLIP2Scene's image_mapping_local is a randomly initialised 1x1 conv that is never trained;
//              F = loss.spatial_dim, default D; loss.spatial_projection: none uses c itself, F = D). `sam`: g = the
//              views' SAM features at the nearest feature cell (the earlier stand-in, not CLIP2Scene's target;
//              loss.spatial_dim = the SAM width). Off by default (loss.spatial: false); weight loss.spatial_weight.
//   switch     CLIP2Scene's switchable self-training: from epoch self_training.start (0-based; 10 = "epoch >=
//              10" [code]) with probability self_training.p once per batch the CE target is argmax z (detached).
//   controls   data.label_source: pseudo (default) | gt | shuffled (train/components/controls.h): the pair labels
//              are replaced by the GT label of the pair's point (pairs of unlabelled points dropped) or by a
//              uniformly random class, before any regime-specific refinement (the regime runs unchanged on them).
//   stats      target_acc / target_miou of the CE targets actually used (after refinement) and net_acc / net_miou
//              of argmax z on the same pairs, against the batch's GT (diagnostics only; metrics.jsonl "stats").
//   logits()   z per voxel (MinkUNet) or per point (SPVCNN): label-free evaluation, class = argmax z.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/module.h"
#include "models/heads.h"
#include "models/registry.h"
#include "train/components/common.h"
#include "train/components/controls.h"
#include "train/components/pending_stats.h"
#include "train/regime.h"

namespace leseg::train::label_free {

// The CE rows of one batch (CPU, i64): pairs with a valid pixel label.
struct PairTargets {
  Tensor points;  // (P,) point rows in the batch
  Tensor rows;    // (P,) rows of the model's output (voxel = inverse[point] for MinkUNet, else the point)
  Tensor labels;  // (P,) CLIP pixel labels in [0, C)
  Tensor pixels;  // (P,) flat index view * h * w + pixel into the (V, h, w) view tensors
  Tensor views;   // (P,) view rows
};

struct Forward {
  Tensor feats;  // (R, C_b) backbone features per output row
  Tensor f;      // (R, D) text-space features
  Tensor z;      // (R, C) point-text logits
};

// Rows (P, D) f32 (CPU) of dense pixel features `feats` (V, hc, wc, D) sampled bilinearly at the crop pixels
// `pixels` (P,) i64 = view * h * w + y * w + x of (V, h, w) crops: cell coordinate (y + 0.5) * hc / h − 0.5, clamped.
// Both are host data (the batch's host original, PairTargets built from it): read without a device synchronisation.
Tensor sample_pixel_features(const Tensor& feats, const Tensor& pixels, int64_t h, int64_t w);
// L_sp = mean_p (1 − cos(local_p, target_p)); gradient only into `local` (the target is detached).
Tensor spatial_cosine_loss(const Tensor& local, const Tensor& target);

class LabelFreeRegime : public Regime {
 public:
  Tensor logits(const Batch& b) override;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override;
  std::vector<std::pair<std::string, Generator*>> generators() override;

  // Exposed for tests.
  PairTargets pair_targets(const Batch& b) const;
  // pair_targets with data.label_source applied (what step() trains on).
  PairTargets training_pairs(const Batch& b);
  // The statistics recorded in the step, the queued ones computed here (after the step: train/components/pending_stats.h).
  nlohmann::json step_stats() const override {
    nlohmann::json j = stats_;
    pending_stats_.write(j);
    return j;
  }
  Forward forward(const Batch& b);
  int64_t num_classes() const { return text_->num_classes(); }
  bool point_rows() const { return backbone_.family == models::ModelFamily::SPVCNN; }

 protected:
  // Reads model.*, loss.temperature, loss.spatial*, self_training.*, optim.* (slot "model" holds backbone and
  // heads); T from the BuildContext.
  void build_base(const Config& cfg, const BuildContext& ctx);
  // CE of z[pairs] against `target` (P,) i64 on the CPU (or argmax z when the switch fires this batch).
  Tensor pair_ce(const Forward& fw, const PairTargets& pt, const Tensor& target, bool use_prediction);
  // Spatial cosine loss (only when loss.spatial).
  Tensor spatial_loss(const Batch& b, const Forward& fw, const PairTargets& pt);
  // Map point rows (CPU i64) to output rows (CPU i64).
  Tensor rows_of_points(const Batch& b, const Tensor& points) const;
  Tensor on_device(const Tensor& t) const { return t.device() == device_ ? t : t.to(device_); }
  // GT label of each pair's point (i64 CPU; -1 where the batch has no labels).
  Tensor pair_gt(const Batch& b, const PairTargets& pt) const;
  // stats_ = mechanism statistics of `targets` (per pair, CPU) and of z at the pairs.
  void record_target_stats(const Batch& b, const Forward& fw, const PairTargets& pt, const Tensor& targets);

  Device device_ = Device::cpu();
  models::Backbone backbone_;
  std::shared_ptr<models::ProjectionHead> final_, local_;
  std::shared_ptr<models::TextLogitHead> text_;
  bool spatial_ = false;
  std::string spatial_target_ = "clip";
  Tensor spatial_projection_;  // (D, F) frozen (clip target); undefined = identity
  double spatial_weight_ = 1.0, ce_weight_ = 1.0;
  SelfTrainingSwitch switch_;
  Generator switch_gen_, control_gen_;
  controls::LabelSource label_source_ = controls::LabelSource::Pseudo;
  nlohmann::json stats_ = nlohmann::json::object();
  PendingStats pending_stats_;  // cleared with stats_ by record_target_stats; read in step_stats() (one read)
  std::vector<std::pair<std::string, Tensor>> model_params_;  // "backbone.*", "final.*", "local.*"
};

}  // namespace leseg::train::label_free
