// SPDX-License-Identifier: Apache-2.0
#include "train/regime.h"

#include <algorithm>

#include "engine/checkpoint/safetensors.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/adam.h"
#include "engine/optim/sgd.h"

namespace leseg::train {

Tensor LossTerms::total() const {
  LESEG_CHECK(!terms.empty(), "LossTerms::total: the regime returned no loss terms");
  Tensor t = terms[0].second;
  for (size_t i = 1; i < terms.size(); ++i) t = leseg::add(t, terms[i].second);
  return t;
}

StateDict Regime::state() {
  StateDict out;
  for (auto& [name, m] : modules())
    for (auto& [k, v] : m->state_dict()) out[name + "." + k] = v;
  return out;
}

void Regime::load(const StateDict& sd) {
  auto mods = modules();
  for (auto& [key, v] : sd) {
    bool known = std::any_of(mods.begin(), mods.end(),
                             [&](auto& m) { return key.rfind(m.first + ".", 0) == 0; });
    LESEG_CHECK(known, name(), ": checkpoint key '", key, "' belongs to no module of this regime");
  }
  for (auto& [name, m] : mods) {
    StateDict part;
    const std::string p = name + ".";
    for (auto& [k, v] : sd)
      if (k.rfind(p, 0) == 0) part[k.substr(p.size())] = v;
    m->load_state_dict(part, /*strict=*/true);
  }
}

void Regime::set_training(bool on) {
  for (auto& [name, m] : modules()) m->train(on);
}

// Built-in regimes, one factory per file in train/regimes/ (named here so a static library keeps them).
std::unique_ptr<Regime> make_supervised_regime();
std::unique_ptr<Regime> make_clip2scene_regime();
std::unique_ptr<Regime> make_hicl_regime();
std::unique_ptr<Regime> make_lass3d_regime();
std::unique_ptr<Regime> make_erda_regime();
std::unique_ptr<Regime> make_erda2d_regime();
std::unique_ptr<Regime> make_cns_regime();

namespace {
std::map<std::string, RegimeFactory>& registry() {
  static std::map<std::string, RegimeFactory> r = {{"supervised", make_supervised_regime},
                                                     {"clip2scene", make_clip2scene_regime},
                                                     {"hicl", make_hicl_regime},
                                                     {"lass3d", make_lass3d_regime},
                                                     {"erda", make_erda_regime},
                                                     {"erda2d", make_erda2d_regime},
                                                     {"cns", make_cns_regime}};
  return r;
}
}  // namespace

bool register_regime(const std::string& name, RegimeFactory f) {
  LESEG_CHECK(!registry().count(name), "register_regime: '", name, "' registered twice");
  registry()[name] = std::move(f);
  return true;
}

std::vector<std::string> regime_names() {
  std::vector<std::string> out;
  for (auto& [k, v] : registry()) out.push_back(k);
  return out;
}

std::unique_ptr<Regime> create_regime(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (auto& n : regime_names()) known += (known.empty() ? "" : ", ") + n;
    LESEG_FAIL("config: unknown regime '", name, "' (known: ", known, ")");
  }
  return it->second();
}

OptimizerSlot build_optimizer_slot(const std::string& slot_name, const Config& cfg, const std::string& prefix,
                                   const std::vector<std::pair<std::string, Tensor>>& named_params,
                                   const BuildContext& ctx) {
  const std::string kind = cfg.get<std::string>(prefix + ".name", "sgd");
  ParamGroup base;
  base.lr = cfg.get<double>(prefix + ".lr", 0.1);
  base.weight_decay = cfg.get<double>(prefix + ".weight_decay", 0.0);
  base.momentum = cfg.get<double>(prefix + ".momentum", 0.0);
  base.dampening = cfg.get<double>(prefix + ".dampening", 0.0);
  base.nesterov = cfg.get<bool>(prefix + ".nesterov", false);
  if (cfg.has(prefix + ".betas")) {
    auto b = cfg.get<std::vector<double>>(prefix + ".betas");
    LESEG_CHECK(b.size() == 2, "config: key '", prefix, ".betas' needs two values, got ", b.size());
    base.beta1 = b[0];
    base.beta2 = b[1];
  }
  base.eps = cfg.get<double>(prefix + ".eps", 1e-8);

  // Groups: optim.groups.<g>.{prefix, lr, weight_decay}, in name order; the remainder is the default group.
  std::vector<std::string> group_names;
  const std::string gp = prefix + ".groups.";
  for (auto& k : cfg.keys()) {
    if (k.rfind(gp, 0) != 0) continue;
    std::string g = k.substr(gp.size());
    g = g.substr(0, g.find('.'));
    if (std::find(group_names.begin(), group_names.end(), g) == group_names.end()) group_names.push_back(g);
  }
  std::sort(group_names.begin(), group_names.end());
  std::vector<ParamGroup> groups;
  std::vector<std::string> prefixes;
  for (auto& g : group_names) {
    ParamGroup pg = base;
    prefixes.push_back(cfg.get<std::string>(gp + g + ".prefix"));
    pg.lr = cfg.get<double>(gp + g + ".lr", base.lr);
    pg.weight_decay = cfg.get<double>(gp + g + ".weight_decay", base.weight_decay);
    groups.push_back(pg);
  }
  ParamGroup rest = base;
  OptimizerSlot slot;
  slot.name = slot_name;
  for (auto& [n, p] : named_params) {
    size_t gi = 0;
    while (gi < prefixes.size() && n.rfind(prefixes[gi], 0) != 0) ++gi;
    (gi < groups.size() ? groups[gi] : rest).params.push_back(p);
    slot.params.push_back(p);
  }
  for (size_t i = 0; i < groups.size(); ++i)
    LESEG_CHECK(!groups[i].params.empty(), "config: parameter group '", gp, group_names[i], "' (prefix '",
                prefixes[i], "') matches no parameter");
  if (!rest.params.empty()) groups.push_back(rest);

  if (kind == "sgd") slot.optimizer = std::make_unique<SGD>(groups);
  else if (kind == "adam") slot.optimizer = std::make_unique<Adam>(groups);
  else if (kind == "adamw") slot.optimizer = std::make_unique<AdamW>(groups);
  else LESEG_FAIL("config: key '", prefix, ".name' = '", kind, "' is not an optimizer (sgd, adam, adamw)");

  const std::string sp = prefix + ".sched";
  const std::string sched = cfg.get<std::string>(sp + ".name", "none");
  const std::string unit = cfg.get<std::string>(sp + ".unit", "step");
  LESEG_CHECK(unit == "step" || unit == "epoch", "config: key '", sp, ".unit' must be step or epoch, got '", unit, "'");
  slot.per_epoch = unit == "epoch";
  const int64_t total = slot.per_epoch ? ctx.epochs : ctx.epochs * ctx.steps_per_epoch;
  Optimizer& o = *slot.optimizer;
  if (sched == "none") {
  } else if (sched == "cosine") {
    int64_t warmup = cfg.get<int64_t>(sp + ".warmup", 0);
    // An evaluation recomputes the schedule from its own splits (it may be shorter than the run's): the
    // schedule is never stepped there, so its keys are not held against it.
    if (!ctx.training) warmup = std::clamp<int64_t>(warmup, 0, std::max<int64_t>(total, 1) - 1);
    LESEG_CHECK(warmup >= 0 && warmup < std::max<int64_t>(total, 1), "config: key '", sp, ".warmup' = ", warmup,
                " must be in [0, ", std::max<int64_t>(total, 1), ") (the run has ", total, " scheduler ", unit, "s)");
    slot.scheduler = std::make_unique<CosineWarmupLR>(o, warmup, std::max<int64_t>(total, 1),
                                                      cfg.get<double>(sp + ".min_lr", 0.0),
                                                      cfg.get<double>(sp + ".warmup_start_factor", 0.0));
  } else if (sched == "step") {
    slot.scheduler = std::make_unique<StepLR>(o, cfg.get<int64_t>(sp + ".step_size"), cfg.get<double>(sp + ".gamma", 0.1));
  } else if (sched == "multistep") {
    slot.scheduler = std::make_unique<MultiStepLR>(o, cfg.get<std::vector<int64_t>>(sp + ".milestones"),
                                                   cfg.get<double>(sp + ".gamma", 0.1));
  } else if (sched == "poly") {
    slot.scheduler = std::make_unique<PolyLR>(o, std::max<int64_t>(total, 1), cfg.get<double>(sp + ".power", 0.9),
                                              cfg.get<double>(sp + ".min_lr", 0.0));
  } else if (sched == "linear") {
    slot.scheduler = std::make_unique<LinearLR>(o, cfg.get<double>(sp + ".start_factor", 1.0),
                                                cfg.get<double>(sp + ".end_factor", 0.0), std::max<int64_t>(total, 1));
  } else {
    LESEG_FAIL("config: key '", sp, ".name' = '", sched, "' is not a scheduler (none, cosine, step, multistep, poly, linear)");
  }
  return slot;
}

models::Backbone backbone_from_config(const Config& cfg, const BuildContext& ctx, const std::string& regime,
                                      const std::string& default_name, bool minkunet_only) {
  const std::string name = cfg.get<std::string>("model.name", default_name);
  LESEG_CHECK(models::has_model(name), regime, ": config key 'model.name' = '", name,
              "' is not a registered model (see `leseg model list`)");
  const models::ModelSpec spec = models::model_spec(name);
  const bool minkunet = spec.family == models::ModelFamily::MinkUNet;
  LESEG_CHECK(minkunet || !minkunet_only, regime, ": config key 'model.name' = '", name, "': regime ", regime,
              " runs MinkUNet backbones");
  models::ModelOptions mo;
  mo.in_channels = ctx.in_channels;
  mo.seed = ctx.seed;
  if (!minkunet) {
    LESEG_CHECK(!cfg.has("model.planes") && !cfg.has("model.layers") && !cfg.has("model.init_dim"), regime,
                ": config keys 'model.planes' / 'model.layers' / 'model.init_dim' apply to MinkUNet only, not '", name, "'");
    mo.spvcnn_bn_momentum = cfg.get<double>("model.bn_momentum", 0.1);
    mo.voxel_size = cfg.get<double>("model.voxel_size", cfg.get<double>("data.voxel_size", 0.05));
    return models::create_backbone(name, mo);
  }
  mo.stem_kernel = cfg.get<int>("model.stem_kernel", 3);
  mo.bn_momentum = cfg.get<double>("model.bn_momentum", 0.05);
  mo.block_bn_momentum = cfg.get<double>("model.block_bn_momentum", 0.1);
  if (!cfg.has("model.planes") && !cfg.has("model.layers") && !cfg.has("model.init_dim"))
    return models::create_backbone(name, mo);
  models::MinkUNetConfig mc = spec.minkunet;
  mc.in_channels = mo.in_channels;
  mc.stem_kernel = mo.stem_kernel;
  mc.bn_momentum = mo.bn_momentum;
  mc.block_bn_momentum = mo.block_bn_momentum;
  mc.seed = mo.seed;
  for (const char* key : {"model.planes", "model.layers"}) {
    if (!cfg.has(key)) continue;
    auto v = cfg.get<std::vector<int64_t>>(key);
    LESEG_CHECK(v.size() == 8, regime, ": config key '", key, "' needs 8 values, got ", v.size());
    for (size_t i = 0; i < 8; ++i) {
      LESEG_CHECK(v[i] >= 1, regime, ": config key '", key, "' has a value < 1");
      if (std::string(key) == "model.planes") mc.planes[i] = v[i];
      else mc.layers[i] = int(v[i]);
    }
  }
  if (cfg.has("model.init_dim")) mc.init_dim = cfg.get<int64_t>("model.init_dim");
  models::Backbone b;
  b.name = name;
  b.minkunet = std::make_shared<models::MinkUNet>(mc);
  b.module = b.minkunet;
  b.out_channels = b.minkunet->out_channels();
  return b;
}

std::string init_deeplab_from_config(models::DeepLabV3& net, const Config& cfg) {
  if (!cfg.has("model2d.init")) return "";
  const std::string path = cfg.get<std::string>("model2d.init");
  return net.load_torchvision_backbone(load_safetensors(path).tensors, path);
}

models::DeepLabV3Config deeplab_from_config(const Config& cfg) {
  models::DeepLabV3Config dc;
  dc.depth = cfg.get<int>("model2d.depth", 18);
  dc.output_stride = cfg.get<int>("model2d.output_stride", 8);
  dc.aspp_channels = cfg.get<int64_t>("model2d.aspp_channels", 256);
  dc.dropout = cfg.get<double>("model2d.dropout", 0.5);
  if (cfg.has("model2d.atrous_rates")) dc.atrous_rates = cfg.get<std::vector<int64_t>>("model2d.atrous_rates");
  dc.num_classes = 0;
  dc.upsample_features = false;
  return dc;
}

}  // namespace leseg::train
