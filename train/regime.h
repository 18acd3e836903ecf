// SPDX-License-Identifier: Apache-2.0
// The regime seam (ARCHITECTURE.md): one Regime per method owns its models, optimizers, schedules and
// ablation switches; it turns a Batch into named, already-weighted loss terms for one step and into logits
// for evaluation. The Trainer (train/trainer.h) owns everything else (loop, accumulation, logging,
// checkpoints, resume, signals, evaluation) and is written once for all regimes.
// Regimes are created by name (config field `regime:`) through a registry; a regime file registers itself
// in train/regime.cpp (built-ins: one line each) or at run time with register_regime (tests).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/scheduler.h"
#include "engine/rng.h"
#include "models/deeplabv3.h"
#include "models/registry.h"
#include "train/batch.h"
#include "train/config.h"

namespace leseg::train {

// Named loss terms of one step, each a scalar already multiplied by its weight; the Trainer back-propagates
// their sum (divided by the accumulation count) and logs each term.
struct LossTerms {
  std::vector<std::pair<std::string, Tensor>> terms;
  void add(const std::string& name, const Tensor& t) { terms.emplace_back(name, t); }
  Tensor total() const;  // sum of the terms (error when empty)
};

// One optimizer with its scheduler. The scheduler steps once per optimizer step ("step") or once per
// epoch ("epoch"); its counter is checkpointed under the slot's name.
struct OptimizerSlot {
  std::string name;  // key prefix in checkpoints ("model")
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LRScheduler> scheduler;  // may be null (constant lr)
  bool per_epoch = false;
  std::vector<Tensor> params;  // everything the optimizer updates (for gradient clipping)
};

// What the Trainer tells a regime when it builds: the schedule length, for schedulers and stage switches.
struct BuildContext {
  Device device = Device::cpu();
  int64_t epochs = 1;
  int64_t steps_per_epoch = 1;  // optimizer steps per epoch (after accumulation)
  bool training = true;         // false for eval / infer jobs: training-only keys (schedules) are read, not validated
  int num_classes = 0;
  int in_channels = 0;
  uint64_t seed = 0;
  Tensor text_embeddings;  // (C, D) f32 unit rows of the dataset's class names; undefined when it has none
};

class Regime {
 public:
  virtual ~Regime() = default;
  virtual std::string name() const = 0;
  // Models, optimizers and schedules. Reads its config keys (unread keys are errors after build).
  virtual void build(const Config& cfg, const BuildContext& ctx) = 0;
  // Forward of one training step: named loss terms (already weighted). `it` counts batches in the epoch.
  virtual LossTerms step(const Batch& batch, int64_t epoch, int64_t it) = 0;
  // Evaluation / inference logits, (voxels, C) or (points, C) of the batch, no graph needed.
  virtual Tensor logits(const Batch& batch) = 0;

  // Named modules (train/eval mode switching, checkpoints: "<name>.<param>").
  virtual std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() = 0;
  std::vector<OptimizerSlot>& optimizers() { return optimizers_; }
  // Called by the Trainer right after every optimizer step (all slots stepped, gradients zeroed), before any
  // logging, evaluation or checkpoint of that step: `step` is the number of optimizer steps taken so far.
  // MeanTeacher's EMA teacher update lives here, so a checkpoint or evaluation after step k sees k updates.
  virtual void after_optimizer_step(int64_t step) { (void)step; }
  // Random generators the regime draws from (checkpointed by name).
  virtual std::vector<std::pair<std::string, Generator*>> generators() { return {}; }
  // Extra evaluation metrics (e.g. the 2D mIoU of a co-trained image network): the Trainer calls
  // begin_eval() before an evaluation pass, logits() may accumulate them during it, and eval_metrics()'s
  // flat keys are merged into the pass's eval record.
  // Data-parallel loss weighting (train/distributed.h): the number of rows this batch's loss is a mean over
  // (e.g. labelled points), so that rank r's loss can be weighted n_r / Σ n and the ranks together compute the
  // mean over the global batch. -1 (default): the loss is no such mean; every rank is weighted 1 / world size.
  virtual int64_t loss_rows(const Batch& batch) const { (void)batch; return -1; }
  virtual void begin_eval() {}
  virtual nlohmann::json eval_metrics() { return nlohmann::json::object(); }
  // Mechanism statistics of the last step() (flat numbers, e.g. the reliable fraction of pseudo-labels, or the
  // accuracy of the training targets against ground truth next to the network's): the Trainer averages them over
  // an optimizer step's batches and logs them as "stats" in its train records; `leseg report` plots them.
  // Diagnostics only: ground truth a regime does not train on may be read here, never used in its losses.
  virtual nlohmann::json step_stats() const { return nlohmann::json::object(); }

  // Checkpoint state: every module's state_dict, keys prefixed by the module name.
  virtual StateDict state();
  virtual void load(const StateDict& sd);
  void set_training(bool on);

 protected:
  std::vector<OptimizerSlot> optimizers_;
};

using RegimeFactory = std::function<std::unique_ptr<Regime>()>;
bool register_regime(const std::string& name, RegimeFactory f);
std::unique_ptr<Regime> create_regime(const std::string& name);  // error lists the known names
std::vector<std::string> regime_names();

// Shared builders from config sections (one place for every regime):
//   <prefix>.name          sgd | adam | adamw
//   <prefix>.lr, .weight_decay, .momentum, .dampening, .nesterov, .betas [b1, b2], .eps
//   <prefix>.groups.<g>.prefix   parameters whose name starts with it form group g (first match wins),
//   <prefix>.groups.<g>.lr / .weight_decay   overrides for that group; the rest form the default group.
//   <prefix>.sched.name    none | cosine | step | multistep | poly | linear;  .sched.unit step | epoch;
//   .sched.warmup, .min_lr, .warmup_start_factor, .step_size, .gamma, .milestones, .power (totals come from
//   the BuildContext: epochs or epochs * steps_per_epoch).
OptimizerSlot build_optimizer_slot(const std::string& slot_name, const Config& cfg, const std::string& prefix,
                                   const std::vector<std::pair<std::string, Tensor>>& named_params,
                                   const BuildContext& ctx);

// The 3D backbone from the model.* keys (one place for every regime):
//   model.name              registry name (default `default_name`; `leseg model list`)
//   model.stem_kernel (3), model.bn_momentum (MinkUNet stem/stride/transposed BNs 0.05; SPVCNN's BNs 0.1),
//   model.block_bn_momentum (0.1)
//   model.planes / model.layers (8 values each), model.init_dim: MinkUNet overrides (small test networks)
//   model.voxel_size        SPVCNN's own voxelisation (default: data.voxel_size, else 0.05)
// `minkunet_only`: regimes that run MinkUNet backbones only reject other families by name.
models::Backbone backbone_from_config(const Config& cfg, const BuildContext& ctx, const std::string& regime,
                                      const std::string& default_name = "MinkUNet14A", bool minkunet_only = false);

// The 2D network's configuration from the model2d.* keys (regimes that train DeepLabV3 on the views: cns, erda2d):
//   model2d.depth (18; ResNet 18 | 34 | 50), model2d.output_stride (8), model2d.aspp_channels (256),
//   model2d.dropout (0.5), model2d.atrous_rates ([] = by output stride), model2d.init (torchvision backbone
//   weights, see init_deeplab_from_config). The classifier is the regime's own
//   per-pixel head (num_classes 0) and features stay at 1/os (upsample_features false): classify, then upsample.
models::DeepLabV3Config deeplab_from_config(const Config& cfg);
// `model2d.init: FILE.safetensors` (torchvision resnet / deeplabv3 weights, scripts/export_torchvision.py):
// initialises net's ResNet backbone and returns a summary line; "" when the key is absent.
std::string init_deeplab_from_config(models::DeepLabV3& net, const Config& cfg);

}  // namespace leseg::train
