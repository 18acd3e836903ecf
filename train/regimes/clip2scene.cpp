// SPDX-License-Identifier: Apache-2.0
// regime: clip2scene (METHODS §2.2, REFERENCE-CODE §1.5 `scannet_loss`) — the label-free baseline.
//   loss terms per step:  "ce"      = loss.ce_weight · CE(z[paired points], CLIP pixel label at the pair),
//                                     target = argmax z (detached) when the self-training switch fires
//                         "spatial" = loss.spatial_weight · mean(1 − cos(local(point), W_img · CLIP pixel feature))
//                                     (only with loss.spatial: true; target = the views' dense CLIP features,
//                                     clip_feat.npy, through a frozen random map as coded; see label_free.h)
// Config keys (defaults): model.* (MinkUNet14A), loss.temperature (1), loss.ce_weight (1), loss.spatial (false),
// loss.spatial_weight (1), loss.spatial_target (clip | sam), loss.spatial_dim (text width for clip),
// loss.spatial_projection (random | none), self_training.enabled (true), .start (10, 0-based), .p (0.5),
// optim.* (SGD lr 0.1, momentum 0.9, dampening 0.1, wd 1e-4, cosine per epoch in the reference).
#include "train/regimes/label_free.h"

namespace leseg::train {
namespace {

class Clip2SceneRegime : public label_free::LabelFreeRegime {
 public:
  std::string name() const override { return "clip2scene"; }
  void build(const Config& cfg, const BuildContext& ctx) override { build_base(cfg, ctx); }

  LossTerms step(const Batch& b, int64_t epoch, int64_t) override {
    label_free::Forward fw = forward(b);
    label_free::PairTargets pt = training_pairs(b);
    record_target_stats(b, fw, pt, pt.labels);
    const bool own = switch_.use_prediction(int(epoch), switch_gen_);
    LossTerms t;
    Tensor ce = pair_ce(fw, pt, pt.labels, own);
    t.add("ce", ce_weight_ == 1.0 ? ce : ce * ce_weight_);
    if (spatial_) t.add("spatial", spatial_loss(b, fw, pt) * spatial_weight_);
    return t;
  }
};

}  // namespace

std::unique_ptr<Regime> make_clip2scene_regime() { return std::make_unique<Clip2SceneRegime>(); }
}  // namespace leseg::train
