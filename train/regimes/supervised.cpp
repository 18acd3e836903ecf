// SPDX-License-Identifier: Apache-2.0
// regime: supervised (METHODS §2.1) — the fine-tune / fully supervised baseline.
//   logits = classifier(backbone(voxels)) per voxel (MinkUNet; SPVCNN gives them per point directly), mapped
//   to every point through the inverse map
//   (loss.resolution: point, default) or kept per voxel (loss.resolution: voxel; the loader's voxel_labels:
//   mode of the voxel's point labels, ignored points excluded);
//   loss = CE(logits, labels, ignore_index) through the fused cross_entropy op (mean over labelled rows, so
//   sparse labels — a few labelled points per scene, the rest -1 — work unchanged).
// Lovász-softmax is not implemented (loss.lovasz is rejected with a clear message).
// Config keys (defaults): model.name (MinkUNet14A), model.stem_kernel (3), loss.ignore_index (-1),
// loss.label_smoothing (0), loss.resolution (point), loss.weight (1), optim.* (train/regime.h).

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/losses.h"
#include "engine/ops/shape_ops.h"
#include "models/heads.h"
#include "models/registry.h"
#include "train/components/common.h"
#include "train/regime.h"

namespace leseg::train {
namespace {


class SupervisedRegime : public Regime {
 public:
  std::string name() const override { return "supervised"; }

  void build(const Config& cfg, const BuildContext& ctx) override {
    LESEG_CHECK(ctx.num_classes > 0, "supervised: the dataset declares no classes");
    device_ = ctx.device;
    backbone_ = backbone_from_config(cfg, ctx, "supervised");
    Generator gen(ctx.seed, 0x4ead);
    head_ = std::make_shared<models::ProjectionHead>(backbone_.out_channels, ctx.num_classes, true, gen);
    backbone_.module->to(device_);
    head_->to(device_);
    ce_.ignore_index = cfg.get<int64_t>("loss.ignore_index", -1);
    ce_.label_smoothing = cfg.get<double>("loss.label_smoothing", 0.0);
    weight_ = cfg.get<double>("loss.weight", 1.0);
    resolution_ = cfg.get<std::string>("loss.resolution", "point");
    LESEG_CHECK(resolution_ == "point" || resolution_ == "voxel", "config: key 'loss.resolution' must be point or voxel, got '",
                resolution_, "'");
    LESEG_CHECK(!cfg.get<bool>("loss.lovasz", false),
                "config: key 'loss.lovasz': Lovasz-softmax is not implemented yet in regime supervised");
    std::vector<std::pair<std::string, Tensor>> params;
    for (auto& [n, p] : backbone_.module->named_parameters()) params.emplace_back("backbone." + n, p);
    for (auto& [n, p] : head_->named_parameters()) params.emplace_back("head." + n, p);
    optimizers_.push_back(build_optimizer_slot("model", cfg, "optim", params, ctx));
  }

  // MinkUNet: (M, C) per voxel; SPVCNN: (N, C) per point.
  Tensor voxel_logits(const Batch& b) {
    if (backbone_.spvcnn)
      return head_->forward(spvcnn_forward(*backbone_.spvcnn, b, device_));  // the batch's voxelization
    SparseTensor x = b.input.device() == device_ ? b.input : to_device(b.input);
    return head_->forward(backbone_.minkunet->forward(x).feats());
  }

  LossTerms step(const Batch& b, int64_t, int64_t) override {
    LESEG_CHECK(b.labels.defined(), "supervised: batch without labels (scene ", b.scene_names.empty() ? "" : b.scene_names[0], ")");
    Tensor z = voxel_logits(b);  // (M, C)
    Tensor loss;
    if (backbone_.spvcnn) {
      loss = cross_entropy(z, b.labels.to(device_), ce_);  // already per point
    } else if (resolution_ == "point") {
      Tensor zp = index_select(z, 0, b.inverse.to(device_));  // (N, C)
      loss = cross_entropy(zp, b.labels.to(device_), ce_);
    } else {
      loss = cross_entropy(z, b.voxel_labels.to(device_), ce_);  // mode label per voxel (loader)
    }
    LossTerms t;
    t.add("ce", weight_ == 1.0 ? loss : loss * weight_);
    return t;
  }

  // The CE is a mean over the labelled rows (points, or voxels with loss.resolution: voxel).
  int64_t loss_rows(const Batch& b) const override {
    const Tensor& l = resolution_ == "voxel" && !backbone_.spvcnn ? b.voxel_labels : b.labels;
    if (!l.defined()) return 0;
    const Tensor h = l.device().is_cpu() ? l : l.to(Device::cpu());
    const int32_t* p = h.data<int32_t>();
    int64_t n = 0;
    for (int64_t i = 0; i < h.numel(); ++i) n += p[i] != ce_.ignore_index;
    return n;
  }

  Tensor logits(const Batch& b) override {
    NoGradGuard ng;
    return voxel_logits(b);
  }

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override {
    return {{"backbone", backbone_.module}, {"head", head_}};
  }

 private:
  SparseTensor to_device(const SparseTensor& x) const {
    return SparseTensor(x.coords().to(device_), x.feats().to(device_), x.stride(), x.num_batches());
  }
  Device device_ = Device::cpu();
  models::Backbone backbone_;
  std::shared_ptr<models::ProjectionHead> head_;
  CrossEntropyOptions ce_;
  double weight_ = 1.0;
  std::string resolution_ = "point";
};

}  // namespace

std::unique_ptr<Regime> make_supervised_regime() { return std::make_unique<SupervisedRegime>(); }
}  // namespace leseg::train
