// SPDX-License-Identifier: Apache-2.0
// Regimes clip2scene and hicl (issue 8) on two tiny synthetic rooms with views: one training step updates the
// models (losses finite, every named term present), pair targets equal a brute-force read of the CLIP pixel
// labels, intra-set refinement makes the pair targets constant per geometric set, the staged schedule adds
// the terms at the configured epochs, ablation switches remove them, the self-training switch trains on
// argmax z, and state()/load() restores a regime exactly. (Refinement, sampling proportions and KL direction
// are unit-tested in tests/train/components/hicl_test.cpp.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "engine/autograd.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "io/datasets/scene_io.h"
#include "io/loader/batch.h"
#include "io/synthetic/dataset.h"
#include "io/synthetic/generator.h"
#include "train/config.h"
#include "train/regime.h"
#include "train/regimes/label_free.h"

namespace leseg::train {
namespace {

const std::string& views_dataset() {
  static std::string root;
  if (root.empty()) {
    root = (std::filesystem::temp_directory_path() / ("leseg_hicl_test_" + std::to_string(::getpid())) / "data").string();
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = 2;
    o.val_scenes = 1;
    o.seed = 11;
    o.text_dim = 16;
    o.indoor.num_views = 2;
    o.indoor.point_density = 60;
    o.indoor.geometric_segments = true;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

Batch tiny_batch(uint64_t seed = 5) {
  static std::vector<io::Scene> scenes;
  if (scenes.empty()) {
    io::SceneReadOptions ro;
    ro.views = true;
    for (auto& n : io::read_split(views_dataset(), "train"))
      scenes.push_back(io::read_scene((std::filesystem::path(views_dataset()) / "scenes" / n).string(), ro));
  }
  io::loader::BatchOptions bo = io::loader::BatchOptions::indoor();
  bo.voxel_size = 0.25;
  bo.views.crop_options.min_pairs = 64;
  std::vector<io::loader::BatchItem> items;
  for (size_t i = 0; i < scenes.size(); ++i) items.push_back({&scenes[i], true, seed + i});
  return io::loader::make_batch(items, bo);
}

std::unique_ptr<Regime> make(const std::string& regime, const std::string& extra, int64_t epochs = 3) {
  Config c = Config::from_string(
      "regime: " + regime +
          "\nmodel: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n"
          "optim: {name: sgd, lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 0.0001}\n" + extra,
      "hicl_test.yaml");
  BuildContext ctx;
  ctx.text_embeddings = io::read_dataset_info(views_dataset()).text_embeddings;
  ctx.epochs = epochs;
  ctx.steps_per_epoch = 1;
  ctx.num_classes = 20;
  ctx.in_channels = 3;
  ctx.seed = 3;
  auto r = create_regime(regime);
  r->build(c, ctx);
  (void)c.get<std::string>("regime");
  c.check_unused();  // every key of the snippet is read by the regime
  return r;
}

std::map<std::string, Tensor> snapshot(Regime& r) {
  std::map<std::string, Tensor> out;
  for (auto& [m, mod] : r.modules())
    for (auto& [n, p] : mod->named_parameters()) out[m + "." + n] = p.detach().clone();
  return out;
}

// One optimizer step; returns the terms (values) and checks they are finite.
std::map<std::string, double> train_step(Regime& r, const Batch& b, int64_t epoch) {
  r.set_training(true);
  LossTerms t = r.step(b, epoch, 0);
  std::map<std::string, double> v;
  for (auto& [n, x] : t.terms) {
    v[n] = x.item<double>();
    EXPECT_TRUE(std::isfinite(v[n])) << n;
  }
  t.total().backward();
  for (auto& s : r.optimizers()) s.optimizer->step();
  for (auto& s : r.optimizers()) s.optimizer->zero_grad();
  return v;
}

// Number of parameters (by name) whose values changed.
int changed(const std::map<std::string, Tensor>& before, Regime& r, const std::string& prefix) {
  auto after = snapshot(r);
  int n = 0;
  for (auto& [k, v] : before)
    if (k.rfind(prefix, 0) == 0 && max(abs(sub(v, after.at(k)))).item<double>() > 0) ++n;
  return n;
}

TEST(Clip2Scene, PairTargetsMatchBruteForce) {
  Batch b = tiny_batch();
  auto r = make("clip2scene", "");
  auto& lf = dynamic_cast<label_free::LabelFreeRegime&>(*r);
  label_free::PairTargets pt = lf.pair_targets(b);
  ASSERT_GT(pt.points.numel(), 100);
  const int64_t h = b.view_clip_labels.size(1), w = b.view_clip_labels.size(2);
  auto pairs = b.pairs.to_vector<int64_t>();
  auto clip = b.view_clip_labels.to_vector<int32_t>();
  auto inv = b.inverse.to_vector<int32_t>();
  std::vector<int64_t> pts, rows, lab;
  for (size_t i = 0; i < pairs.size() / 3; ++i) {
    const int32_t l = clip[size_t(pairs[3 * i + 2] * h * w + pairs[3 * i + 1])];
    if (l < 0) continue;
    pts.push_back(pairs[3 * i]);
    rows.push_back(inv[size_t(pairs[3 * i])]);
    lab.push_back(l);
  }
  EXPECT_EQ(pt.points.to_vector<int64_t>(), pts);
  EXPECT_EQ(pt.rows.to_vector<int64_t>(), rows);
  EXPECT_EQ(pt.labels.to_vector<int64_t>(), lab);
  EXPECT_GT(std::set<int64_t>(lab.begin(), lab.end()).size(), 2u);  // non-trivial labels
}

TEST(Clip2Scene, OneStepUpdatesModelAndLossIsPairCE) {
  Batch b = tiny_batch();
  auto r = make("clip2scene", "");
  auto& lf = dynamic_cast<label_free::LabelFreeRegime&>(*r);
  // The "ce" term is CE(z[paired rows], pixel label) (before the switch epoch).
  {
    r->set_training(true);
    LossTerms t = r->step(b, 0, 0);
    ASSERT_EQ(t.terms.size(), 1u);
    EXPECT_EQ(t.terms[0].first, "ce");
    NoGradGuard ng;
    label_free::PairTargets pt = lf.pair_targets(b);
    Tensor ref = cross_entropy(index_select(lf.forward(b).z, 0, pt.rows), pt.labels);
    EXPECT_NEAR(t.terms[0].second.item<double>(), ref.item<double>(), 1e-5);
  }
  auto before = snapshot(*r);
  auto v = train_step(*r, b, 0);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_GT(changed(before, *r, "backbone."), 10);
  EXPECT_EQ(changed(before, *r, "final."), 2);
  EXPECT_EQ(changed(before, *r, "text."), 0);  // fixed text embeddings
  EXPECT_EQ(r->logits(b).size(0), b.num_voxels());
  EXPECT_EQ(r->logits(b).size(1), 20);
}

TEST(Clip2Scene, SelfTrainingSwitchTrainsOnOwnPrediction) {
  Batch b = tiny_batch();
  auto r = make("clip2scene", "self_training: {start: 1, p: 1.0}\n");
  auto& lf = dynamic_cast<label_free::LabelFreeRegime&>(*r);
  r->set_training(true);
  const double before = r->step(b, 0, 0).terms[0].second.item<double>();
  const double after = r->step(b, 1, 0).terms[0].second.item<double>();
  NoGradGuard ng;
  label_free::PairTargets pt = lf.pair_targets(b);
  Tensor zp = index_select(lf.forward(b).z, 0, pt.rows);
  EXPECT_NEAR(before, cross_entropy(zp, pt.labels).item<double>(), 1e-5);
  EXPECT_NEAR(after, cross_entropy(zp, argmax(zp, 1)).item<double>(), 1e-5);
  EXPECT_NE(before, after);
}

TEST(Clip2Scene, SpatialLossWithSamFeatureStandIn) {
  Batch b = tiny_batch();
  ASSERT_TRUE(b.view_sam_features.defined());
  const int64_t F = b.view_sam_features.size(3);
  auto r = make("clip2scene", "loss: {spatial: true, spatial_target: sam, spatial_dim: " + std::to_string(F) + "}\n");
  auto before = snapshot(*r);
  auto v = train_step(*r, b, 0);
  ASSERT_TRUE(v.count("spatial"));
  EXPECT_GT(v["spatial"], 0.0);
  EXPECT_LT(v["spatial"], 2.0);
  EXPECT_EQ(changed(before, *r, "local."), 2);
}

// CLIP2Scene's spatial loss on hand-made inputs: dense features (V, hc, wc, D) sampled bilinearly at crop pixels
// (align_corners = False, clamped), then L = mean(1 − cos(local, target)) with the gradient only into `local`,
// pointing away from the target (a descent step raises every row's cosine).
TEST(Clip2Scene, SpatialLossValueGradientAndPixelSampling) {
  // one view, 2x2 cells of D = 2 over a 4x4 crop
  const std::vector<float> cells = {1, 0, 0, 1, 2, 0, 0, 2};  // (0,0)=[1,0] (0,1)=[0,1] (1,0)=[2,0] (1,1)=[0,2]
  Tensor feats = Tensor::from_vector(cells, Shape{1, 2, 2, 2});
  // pixel (0,0): cell coordinate 0.5*2/4 - 0.5 = -0.25 -> clamped to cell (0,0); pixel (1,1): 0.25 in both axes;
  // pixel (3,3): 1.25 -> clamped to (1,1); pixel (0,3): row 0, column clamped to 1
  Tensor px = Tensor::from_vector(std::vector<int64_t>{0, 1 * 4 + 1, 3 * 4 + 3, 3}, Shape{4});
  std::vector<float> got = label_free::sample_pixel_features(feats, px, 4, 4).to_vector<float>();
  ASSERT_EQ(got.size(), 8u);
  // (1,1): 0.75*0.75*[1,0] + 0.75*0.25*[0,1] + 0.25*0.75*[2,0] + 0.25*0.25*[0,2] = [0.9375, 0.3125]
  const std::vector<float> want = {1, 0, 0.9375f, 0.3125f, 0, 2, 0, 1};
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;

  Tensor local = Tensor::from_vector(std::vector<float>{1, 0, 1, 1}, Shape{2, 2}).requires_grad_(true);
  Tensor target = Tensor::from_vector(std::vector<float>{0, 3, 2, 0}, Shape{2, 2}).requires_grad_(true);
  Tensor loss = label_free::spatial_cosine_loss(local, target);
  // rows: cos([1,0],[0,1]) = 0, cos([1,1],[1,0]) = 1/sqrt(2): mean(1, 1 - 0.7071) = 0.646447
  EXPECT_NEAR(loss.item<double>(), 0.5 * (1.0 + (1.0 - 1.0 / std::sqrt(2.0))), 1e-6);
  loss.backward();
  EXPECT_FALSE(target.grad().defined() && max(abs(target.grad())).item<double>() > 0);  // the target is detached
  // d(1 - cos)/dl = -(t^ - cos l^) / |l|, divided by P = 2: row 0 [0, -0.5], row 1 [-0.17678, 0.17678]
  std::vector<float> g = local.grad().to_vector<float>();
  EXPECT_NEAR(g[0], 0.0, 1e-6);
  EXPECT_NEAR(g[1], -0.5, 1e-6);
  EXPECT_NEAR(g[2], -0.5 * 0.5 * std::sqrt(2.0) / 2.0 * 1.0, 1e-5);
  EXPECT_NEAR(g[3], 0.5 * 0.5 * std::sqrt(2.0) / 2.0, 1e-5);
  // a descent step moves each row toward its target
  std::vector<float> l = {1, 0, 1, 1}, t = {0, 3, 2, 0};
  auto cosr = [](const float* a, const float* b) {
    return (a[0] * b[0] + a[1] * b[1]) / std::sqrt((a[0] * a[0] + a[1] * a[1]) * (b[0] * b[0] + b[1] * b[1]));
  };
  for (int r = 0; r < 2; ++r) {
    float stepped[2] = {l[size_t(2 * r)] - 0.1f * g[size_t(2 * r)], l[size_t(2 * r + 1)] - 0.1f * g[size_t(2 * r + 1)]};
    EXPECT_GT(cosr(stepped, &t[size_t(2 * r)]), cosr(&l[size_t(2 * r)], &t[size_t(2 * r)]) + 1e-3) << r;
  }
  // shapes that disagree are an error
  EXPECT_THROW(label_free::spatial_cosine_loss(local, Tensor::zeros(Shape{2, 3})), Error);
}

// The regime's spatial term (target clip, no projection) equals the loss computed by hand from the batch's dense
// CLIP features at the training pairs; with the default frozen random projection the term is present, in (0, 2),
// and trains the local head; a batch without clip features is a clear error.
TEST(Clip2Scene, SpatialLossAgainstDenseClipFeatures) {
  Batch b = tiny_batch();
  ASSERT_TRUE(b.view_clip_features.defined());
  EXPECT_EQ(b.view_clip_features.size(3), 16);  // the dataset's text width
  {
    auto r = make("clip2scene", "loss: {spatial: true, spatial_projection: none}\nself_training: {enabled: false}\n");
    auto* lf = dynamic_cast<label_free::LabelFreeRegime*>(r.get());
    ASSERT_NE(lf, nullptr);
    double expected = 0;
    {
      NoGradGuard ng;
      label_free::Forward fw = lf->forward(b);
      label_free::PairTargets pt = lf->training_pairs(b);
      std::shared_ptr<Module> local;
      for (auto& [n, m] : r->modules())
        if (n == "local") local = m;
      ASSERT_TRUE(local);
      auto head = std::dynamic_pointer_cast<models::ProjectionHead>(local);
      ASSERT_TRUE(head);
      Tensor loc = head->forward(index_select(fw.feats, 0, pt.rows));
      Tensor tgt = label_free::sample_pixel_features(b.view_clip_features, pt.pixels, b.view_clip_labels.size(1),
                                                     b.view_clip_labels.size(2));
      expected = label_free::spatial_cosine_loss(loc, tgt).item<double>();
    }
    auto v = train_step(*r, b, 0);
    ASSERT_TRUE(v.count("spatial"));
    EXPECT_NEAR(v["spatial"], expected, 1e-5);
  }
  auto r = make("clip2scene", "loss: {spatial: true, spatial_weight: 0.5}\n");
  auto before = snapshot(*r);
  auto v = train_step(*r, b, 0);
  ASSERT_TRUE(v.count("spatial"));
  EXPECT_GT(v["spatial"], 0.0);
  EXPECT_LT(v["spatial"], 1.0);  // weight 0.5 on a loss in (0, 2)
  EXPECT_EQ(changed(before, *r, "local."), 2);
  Batch none = b;
  none.view_clip_features = Tensor();
  try {
    r->step(none, 0, 0);
    FAIL() << "spatial loss without dense CLIP features";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip_feat.npy"), std::string::npos) << e.what();
  }
}

const char* kHiclAll = "hicl: {intra_from: 0, kl_from: 0, samples: 40}\ntransformer: {heads: 2}\n"
                       "optim_transformer: {name: adamw, lr: 0.001, weight_decay: 0.05}\n";

TEST(Hicl, OneStepEveryTermPresentAndAllModelsUpdate) {
  Batch b = tiny_batch();
  auto r = make("hicl", kHiclAll);
  EXPECT_EQ(r->optimizers().size(), 2u);
  auto before = snapshot(*r);
  auto v = train_step(*r, b, 0);
  for (const char* n : {"ce", "intra_ce", "inter_ce", "kl"}) EXPECT_TRUE(v.count(n)) << n;
  EXPECT_EQ(v.size(), 4u);
  // Eq. 3 block (default): identity at initialisation, so the teacher's logits equal the 3D model's: KL = 0.
  EXPECT_NEAR(v["kl"], 0.0, 1e-6);
  {
    std::string cfg = kHiclAll;
    cfg.replace(cfg.find("{heads: 2}"), 10, "{heads: 2, block: prenorm}");
    auto pre = make("hicl", cfg);
    EXPECT_GT(train_step(*pre, b, 0)["kl"], 0.0);  // the pre-norm variant starts as a random function of f
  }
  EXPECT_GT(changed(before, *r, "backbone."), 10);
  EXPECT_GT(changed(before, *r, "intra."), 10);
  EXPECT_GT(changed(before, *r, "inter."), 10);
  EXPECT_EQ(changed(before, *r, "text."), 0);
}

TEST(Hicl, IntraSetRefinementMakesTargetsConstantPerSet) {
  Batch b = tiny_batch();
  ASSERT_TRUE(b.segments.defined());
  for (bool refine : {false, true}) {
    // pooled: one vote per set over all views (the reference below); per_view is tested in components
    auto r = make("hicl", std::string("hicl: {vote: pooled, intra_set: ") + (refine ? "true" : "false") + "}\n");
    Tensor zero_grad_probe;
    // Read the targets through one step at epoch 0 (ce only) and the public pair targets.
    auto& lf = dynamic_cast<label_free::LabelFreeRegime&>(*r);
    label_free::PairTargets pt = lf.pair_targets(b);
    auto seg = b.segments.to_vector<int32_t>();
    auto pts = pt.points.to_vector<int64_t>();
    auto lab = pt.labels.to_vector<int64_t>();
    // Brute-force mode per set (ties -> smallest class).
    std::map<int32_t, std::map<int64_t, int>> votes;
    for (size_t i = 0; i < pts.size(); ++i)
      if (seg[size_t(pts[i])] >= 0) votes[seg[size_t(pts[i])]][lab[i]]++;
    int disagreeing_sets = 0;
    for (auto& [s, m] : votes) disagreeing_sets += m.size() > 1;
    EXPECT_GT(disagreeing_sets, 0);  // the stand-in CLIP labels are noisy within sets: refinement has work
    r->set_training(true);
    LossTerms t = r->step(b, 0, 0);
    std::vector<int64_t> target(lab);
    if (refine)
      for (size_t i = 0; i < pts.size(); ++i) {
        const int32_t s = seg[size_t(pts[i])];
        if (s < 0) continue;
        int best = 0;
        for (auto& [c, n] : votes[s])
          if (n > best) best = n, target[i] = c;
      }
    NoGradGuard ng;
    Tensor ref = cross_entropy(index_select(lf.forward(b).z, 0, pt.rows), Tensor::from_vector(target, Shape{int64_t(target.size())}));
    EXPECT_NEAR(t.terms[0].second.item<double>(), ref.item<double>(), 1e-5) << "refine " << refine;
  }
}

TEST(Hicl, StagedScheduleAddsTermsAtConfiguredEpochs) {
  Batch b = tiny_batch();
  auto r = make("hicl", "hicl: {intra_from: 1, kl_from: 2, samples: 40}\ntransformer: {heads: 2}\n"
                        "optim_transformer: {name: adamw, lr: 0.0002}\n");
  auto names = [&](int64_t epoch) {
    std::set<std::string> s;
    r->set_training(true);
    for (auto& [n, x] : r->step(b, epoch, 0).terms) s.insert(n);
    return s;
  };
  EXPECT_EQ(names(0), (std::set<std::string>{"ce"}));
  EXPECT_EQ(names(1), (std::set<std::string>{"ce", "intra_ce", "inter_ce"}));
  EXPECT_EQ(names(2), (std::set<std::string>{"ce", "intra_ce", "inter_ce", "kl"}));
}

TEST(Hicl, LossesAveragedOverActiveTerms) {
  Batch b = tiny_batch();
  auto avg = make("hicl", kHiclAll);
  auto sum = make("hicl", std::string(kHiclAll) + "loss: {average: false}\n");
  avg->set_training(true);
  sum->set_training(true);
  // Same seed, same weights, same sampling stream: every averaged term is the plain one / 4.
  LossTerms a = avg->step(b, 0, 0), s = sum->step(b, 0, 0);
  ASSERT_EQ(a.terms.size(), 4u);
  ASSERT_EQ(s.terms.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(a.terms[i].first, s.terms[i].first);
    EXPECT_NEAR(a.terms[i].second.item<double>() * 4, s.terms[i].second.item<double>(), 1e-4) << a.terms[i].first;
  }
}

TEST(Hicl, AblationSwitchesRemoveTermsAndModules) {
  Batch b = tiny_batch();
  auto r = make("hicl", "hicl: {intra_from: 0, kl_from: 0, samples: 40, inter_scene: false, feedback: false}\n"
                        "transformer: {heads: 2}\n");
  std::set<std::string> mods;
  for (auto& [n, m] : r->modules()) mods.insert(n);
  EXPECT_TRUE(mods.count("intra"));
  EXPECT_FALSE(mods.count("inter"));
  auto v = train_step(*r, b, 0);
  EXPECT_EQ(v.size(), 2u);
  EXPECT_TRUE(v.count("intra_ce"));
  // Both transformers off (the "+intra-set" row): the optim_transformer section is accepted unread.
  auto base = make("hicl", "hicl: {intra_from: 0, kl_from: 0, intra_scene: false, inter_scene: false}\n"
                           "optim_transformer: {name: adamw, lr: 0.0002, betas: [0.9, 0.999]}\n");
  EXPECT_EQ(base->optimizers().size(), 1u);  // no transformer, no AdamW slot
  EXPECT_EQ(train_step(*base, b, 5).size(), 1u);
}

TEST(Hicl, StateLoadRestoresTheRegime) {
  Batch b = tiny_batch();
  auto r = make("hicl", kHiclAll);
  train_step(*r, b, 0);
  r->set_training(false);
  Tensor z = r->logits(b);
  StateDict sd = r->state();
  auto fresh = make("hicl", kHiclAll);
  fresh->load(sd);
  fresh->set_training(false);
  Tensor z2 = fresh->logits(b);
  EXPECT_EQ(max(abs(sub(z, z2))).item<double>(), 0.0);
  EXPECT_GT(max(abs(z)).item<double>(), 0.0);
  std::set<std::string> gens;
  for (auto& [n, g] : r->generators()) gens.insert(n);
  EXPECT_EQ(gens, (std::set<std::string>{"self_training", "sampling", "controls"}));
}

// The transformers' lr schedule starts when their stage starts (hicl.transformer_sched: stage, default): at the
// stage's first step the lr equals the base lr, then the cosine runs over the remaining epochs; `run` keeps the
// previous schedule from step 0 (half-way down its cosine at the stage start of a 4-epoch run starting at epoch 2).
TEST(Hicl, TransformerScheduleStartsWithTheirStage) {
  const std::string cfg = "hicl: {intra_from: 2, kl_from: 3, samples: 40}\ntransformer: {heads: 2}\n"
                          "optim_transformer: {name: adamw, lr: 0.001, weight_decay: 0.05, sched: {name: cosine}}\n";
  for (const char* mode : {"stage", "run"}) {
    std::string c = cfg;
    if (std::string(mode) == "run") c = "hicl: {intra_from: 2, kl_from: 3, samples: 40, transformer_sched: run}\n" +
                                        cfg.substr(cfg.find('\n') + 1);
    auto r = make("hicl", c, /*epochs=*/4);  // steps_per_epoch = 1
    OptimizerSlot* slot = nullptr;
    for (auto& s : r->optimizers())
      if (s.name == "transformers") slot = &s;
    ASSERT_NE(slot, nullptr);
    ASSERT_TRUE(slot->scheduler);
    slot->scheduler->set_state(2);  // the first step of epoch 2 = the stage start
    const double at_start = slot->scheduler->get_lr()[0];
    slot->scheduler->set_state(3);
    const double next = slot->scheduler->get_lr()[0];
    if (std::string(mode) == "stage") {
      EXPECT_DOUBLE_EQ(at_start, 0.001);
      EXPECT_NEAR(next, 0.001 * 0.5, 1e-12);  // cosine over the stage's 2 steps
      slot->scheduler->set_state(0);
      EXPECT_DOUBLE_EQ(slot->scheduler->get_lr()[0], 0.001);
    } else {
      EXPECT_NEAR(at_start, 0.001 * 0.5, 1e-12);  // cosine over the run's 4 steps, half-way at step 2
    }
    // the 3D model's schedule is the run's either way
    for (auto& s : r->optimizers())
      if (s.name == "model") {
        EXPECT_FALSE(s.scheduler);
      }
  }
}

TEST(Hicl, ClearErrors) {
  Batch b = tiny_batch();
  EXPECT_THROW(make("hicl", "transformer: {heads: 3}\n"), Error);  // 16 % 3 != 0
  auto r = make("hicl", "");
  Batch nv = b;
  nv.pairs = Tensor();
  EXPECT_THROW(r->step(nv, 0, 0), Error);
  Batch ns = b;
  ns.segments = Tensor();
  EXPECT_THROW(r->step(ns, 0, 0), Error);  // intra_set needs segments
}

// The LiDAR variant (configs/hicl_lidar_synthetic.yaml): SPVCNN on intensity, views without depth maps pair
// LiDAR-style (depth > 1 m, no depth test); one step gives every HICL term and updates the point-voxel network.
TEST(Hicl, LidarVariantWithSpvcnnTrainsOneStep) {
  io::DatasetInfo info = io::synth::outdoor_dataset_info(16, 2);
  io::synth::OutdoorOptions oo;
  oo.beams = 16;
  oo.azimuth_steps = 360;
  oo.height = 60;
  oo.width = 80;
  std::vector<io::Scene> scenes = {io::synth::generate_outdoor_scene(21, info.text_embeddings, oo),
                                   io::synth::generate_outdoor_scene(22, info.text_embeddings, oo)};
  ASSERT_FALSE(scenes[0].views.empty());
  ASSERT_FALSE(scenes[0].views[0].depth.defined()) << "LiDAR cameras carry no depth map";
  io::loader::BatchOptions bo = io::loader::BatchOptions::outdoor();
  bo.views.enabled = true;
  bo.views.crop_options.out_height = 60;
  bo.views.crop_options.out_width = 80;
  bo.views.crop_options.min_pairs = 32;
  std::vector<io::loader::BatchItem> items = {{&scenes[0], true, 1}, {&scenes[1], true, 2}};
  Batch b = io::loader::make_batch(items, bo);
  ASSERT_TRUE(b.pairs.defined());
  ASSERT_GT(b.pairs.size(0), 32);
  ASSERT_EQ(b.point_feats.size(1), 1) << "intensity is the only feature";

  Config c = Config::from_string(
      "regime: hicl\nmodel: {name: SPVCNN, voxel_size: 0.1}\n"
      "optim: {name: sgd, lr: 0.1, momentum: 0.9}\n"
      "hicl: {intra_from: 0, kl_from: 0, samples: 40}\ntransformer: {heads: 2}\n",
      "hicl_lidar_test.yaml");
  BuildContext ctx;
  ctx.text_embeddings = info.text_embeddings;
  ctx.epochs = 2;
  ctx.steps_per_epoch = 1;
  ctx.num_classes = int(info.classes.size());
  ctx.in_channels = 1;
  ctx.seed = 3;
  auto r = create_regime("hicl");
  r->build(c, ctx);
  auto before = snapshot(*r);
  auto v = train_step(*r, b, 0);
  for (const char* n : {"ce", "intra_ce", "inter_ce", "kl"}) EXPECT_TRUE(v.count(n)) << n;
  EXPECT_GT(v["ce"], 0.0);
  EXPECT_GT(changed(before, *r, "backbone."), 10);
  r->set_training(false);
  Tensor z = r->logits(b);
  EXPECT_EQ(z.size(1), int64_t(info.classes.size()));
  EXPECT_TRUE(z.size(0) == b.num_points() || z.size(0) == b.num_voxels());
}

}  // namespace
}  // namespace leseg::train
