// SPDX-License-Identifier: Apache-2.0
// regime: cns on 2 tiny synthetic scenes with 2 RGB-D views each (48x64, tiny MinkUNet34C planes, DeepLabV3-18
// with 16 ASPP channels): one co-training step updates both networks, both text heads and the 2D/3D latent
// heads (the SAM-side head and the text embeddings stay frozen), with finite ce_2d / ce_3d / lsc_2d / lsc_3d;
// in warm-up the 3D term equals CE against the SAM-refined projected CLIP labels (independent recomputation from
// the 3D logits; refinement changes labels on these scenes, and cns.refine=none uses the raw ones); the label
// switch draws nothing in warm-up and one draw per network afterwards; evaluation reports miou_2d from the 2D
// network through eval_metrics(); state() + generators reproduce the next step bit for bit; post-refine returns
// per-point logits; the Trainer's eval record carries miou and miou_2d; config errors. (Mask voting vs a
// serial loop, source sampling and the cosine loss gradients are in tests/train/components/cns_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <unistd.h>

#include "engine/autograd.h"
#include "engine/ops/losses.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "io/synthetic/dataset.h"
#include "train/components/cns.h"
#include "train/evaluate.h"
#include "train/job.h"
#include "train/regime.h"
#include "train/trainer.h"
#include "tests/train/train_fixture.h"
#include "tests/train/regimes/regime_test_util.h"

using namespace leseg;
using namespace leseg::train;

namespace {

using leseg::train::testing::term_values;
using leseg::train::testing::parameter_snapshot;

const std::string& views_dataset() {
  static const std::string root = leseg::train::testing::tiny_views_dataset("cns_test", 11);
  return root;
}

Config cns_config(const std::vector<std::string>& extra) {
  return leseg::train::testing::views_config(
      "seed: 5\nregime: cns\n"
      "data: {batch_size: 2, val_batch_size: 1, voxel_size: 0.2, augment: true, workers: 0, views: true,\n"
      "       crop_height: 48, crop_width: 64, crop_min_pairs: 16, eval_view_crop: false}\n"
      "model: {name: MinkUNet34C, planes: [8, 8, 8, 8, 8, 8, 8, 8], layers: [1, 1, 1, 1, 1, 1, 1, 1], init_dim: 8}\n"
      "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\n"
      "cns: {warmup_epochs: 1, sam_dim: 32}\n"
      "optim: {name: sgd, lr: 0.05, momentum: 0.9}\n"
      "optim2d: {name: sgd, lr: 0.05, momentum: 0.9}\n"
      "train: {epochs: 2, log_every: 1, eval_every: -1}\n",
      "cns_tiny.yaml", views_dataset(), extra);
}

struct CnsRun {
  Job job;
  Batch b0, b1;
};

CnsRun make(const std::vector<std::string>& extra = {}) {
  Config c = cns_config(extra);
  CnsRun s{build_job(c, JobKind::Train), {}, {}};
  s.job.train->begin_epoch(0);
  auto x = s.job.train->next();
  EXPECT_TRUE(x.has_value());
  s.b0 = *x;
  s.job.train->begin_epoch(1);
  auto y = s.job.train->next();
  EXPECT_TRUE(y.has_value());
  s.b1 = *y;
  s.job.regime->set_training(true);
  return s;
}

void optimizer_step(Regime& r, const LossTerms& t) {
  t.total().backward();
  for (auto& slot : r.optimizers()) {
    slot.optimizer->step();
    slot.optimizer->zero_grad();
  }
}

Generator* generator(Regime& r, const std::string& name) {
  for (auto& [n, g] : r.generators())
    if (n == name) return g;
  return nullptr;
}

}  // namespace

TEST(CnsRegime, OneStepUpdatesBothNetworks) {
  CnsRun s = make();
  Regime& r = *s.job.regime;
  ASSERT_GT(s.b0.num_views(), 0);
  auto before = parameter_snapshot(r);
  LossTerms t = r.step(s.b0, 0, 0);
  auto v = term_values(t);
  std::set<std::string> names;
  for (auto& [k, x] : v) names.insert(k);
  EXPECT_EQ(names, (std::set<std::string>{"ce_2d", "ce_3d", "lsc_2d", "lsc_3d"}));
  for (auto& [k, x] : v) {
    EXPECT_TRUE(std::isfinite(x)) << k;
    EXPECT_GT(x, 0.0) << k;  // CE against C = 20 classes and 1 - cos of random heads are far from 0
  }
  optimizer_step(r, t);
  auto after = parameter_snapshot(r);
  std::map<std::string, int> changed;  // per module: parameters that moved
  for (auto& [k, a] : before) {
    const std::string mod = k.substr(0, k.find('.'));
    if (a != after[k]) ++changed[mod];
  }
  for (const char* m : {"backbone3d", "head3d", "net2d", "head2d", "lsc"}) EXPECT_GT(changed[m], 0) << m;
  for (auto& [k, a] : before) {
    if (k.rfind("lsc.phi_target.", 0) == 0) {
      EXPECT_EQ(a, after[k]) << k << " (SAM-side head is frozen)";
    }
  }
  // every parameter of the 3D backbone and of the 2D network that the loss reaches moves; count them
  int moved3 = 0, total3 = 0, moved2 = 0, total2 = 0;
  for (auto& [k, a] : before) {
    if (k.rfind("backbone3d.", 0) == 0) total3++, moved3 += a != after[k];
    if (k.rfind("net2d.", 0) == 0) total2++, moved2 += a != after[k];
  }
  EXPECT_GT(moved3, total3 / 2);
  EXPECT_GT(moved2, total2 / 2);
  // text embeddings: a fixed buffer
  auto sd = r.state();
  ASSERT_TRUE(sd.count("text.text_embeddings"));
}

TEST(CnsRegime, WarmupTargetIsRefinedProjectedClip) {
  for (const char* refine : {"train", "none"}) {
    CnsRun s = make({std::string("cns.refine=") + refine, "cns.lsc=none"});
    Regime& r = *s.job.regime;
    const Batch& b = s.b0;
    Tensor z3p = index_select(r.logits(b), 0, b.inverse);  // train mode: the same forward as the step's
    Tensor refined = cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20);
    Tensor raw = b.pseudo_labels.to(DType::i64);
    int64_t diff = 0, valid = 0;
    {
      auto a = refined.to_vector<int64_t>(), c = raw.to_vector<int64_t>();
      for (size_t i = 0; i < a.size(); ++i) diff += a[i] != c[i], valid += a[i] >= 0;
    }
    ASSERT_GT(diff, 0) << "SAM voting changes no label on the fixture: the check below would be vacuous";
    ASSERT_GT(valid, 100);
    const double expect = cross_entropy(z3p, std::string(refine) == "train" ? refined : raw).item<float>();
    const double other = cross_entropy(z3p, std::string(refine) == "train" ? raw : refined).item<float>();
    Generator* g = generator(r, "label_switch");
    ASSERT_NE(g, nullptr);
    const uint64_t off0 = g->offset();
    auto v = term_values(r.step(b, 0, 0));
    EXPECT_EQ(g->offset(), off0) << "no draw in warm-up";
    EXPECT_NEAR(v["ce_3d"], expect, 1e-5 * std::abs(expect)) << refine;
    EXPECT_GT(std::abs(v["ce_3d"] - other), 1e-4) << refine;
    EXPECT_EQ(v.count("lsc_2d"), 0u);
    r.step(b, 1, 0);  // stage 2: one draw for each network
    EXPECT_GT(g->offset(), off0);
  }
}

// The paper's order (data.pseudo_labels: vote_then_project): P*_3D is the loader's voted-then-projected label,
// used as it is (no second vote among points).
TEST(CnsRegime, PaperOrderUsesTheLoadersVotedLabels) {
  CnsRun s = make({"data.pseudo_labels=vote_then_project", "cns.lsc=none"});
  CnsRun raw = make({"cns.lsc=none"});  // same scenes and seeds: raw projection
  Regime& r = *s.job.regime;
  const Batch& b = s.b0;
  auto pv = b.pseudo_labels.to_vector<int32_t>(), rv = raw.b0.pseudo_labels.to_vector<int32_t>();
  ASSERT_EQ(pv.size(), rv.size());
  int64_t diff = 0;
  for (size_t i = 0; i < pv.size(); ++i) diff += pv[i] != rv[i];
  ASSERT_GT(diff, 0) << "voting in 2D changes no projected label on the fixture: the check below would be vacuous";
  Tensor z3p = index_select(r.logits(b), 0, b.inverse);
  const double expect = cross_entropy(z3p, b.pseudo_labels.to(DType::i64)).item<float>();
  const double revoted = cross_entropy(z3p, cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20)).item<float>();
  auto v = term_values(r.step(b, 0, 0));
  EXPECT_NEAR(v["ce_3d"], expect, 1e-5 * std::abs(expect));
  if (std::abs(expect - revoted) > 1e-4) {
    EXPECT_GT(std::abs(v["ce_3d"] - revoted), 1e-5);
  }
  // training on unrefined labels cannot be combined with labels the loader already refined
  EXPECT_THROW(make({"data.pseudo_labels=vote_then_project", "cns.refine=none"}), Error);
  EXPECT_THROW(make({"data.pseudo_labels=voted"}), Error);
}

// cns.eval_source=labels scores the pseudo-labels themselves (Table 2's untrained rows); train+post trains with the
// refined labels and votes the predictions at evaluation (per-point logits).
TEST(CnsRegime, UntrainedLabelRowsAndTrainPlusPost) {
  CnsRun s = make({"cns.eval_source=labels"});
  Regime& r = *s.job.regime;
  r.set_training(false);
  Tensor z = r.logits(s.b0);
  ASSERT_EQ(z.size(0), s.b0.num_points());
  auto pred = argmax(z, 1).to_vector<int64_t>();
  auto lab = s.b0.pseudo_labels.to_vector<int32_t>();
  int64_t labelled = 0;
  for (size_t i = 0; i < lab.size(); ++i)
    if (lab[i] >= 0) {
      ++labelled;
      ASSERT_EQ(pred[i], lab[i]) << "point " << i;
    }
  EXPECT_GT(labelled, 100);

  CnsRun tp = make({"cns.refine=train+post", "cns.lsc=none"});
  CnsRun plain = make({"cns.refine=train", "cns.lsc=none"});  // same seeds: same weights and batches
  Regime& q = *tp.job.regime;
  const Batch& b = tp.b0;
  Tensor z3p = index_select(plain.job.regime->logits(plain.b0), 0, b.inverse);  // logits() of train+post are voted
  const double refined = cross_entropy(z3p, cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20)).item<float>();
  EXPECT_NEAR(term_values(q.step(b, 0, 0))["ce_3d"], refined, 1e-5 * std::abs(refined));
  q.set_training(false);
  EXPECT_EQ(q.logits(b).size(0), b.num_points()) << "post-refined predictions come back per point";
}

// Stage 2 with one allowed source (w_3d: both networks on P̂*_3D): the 3D target is the SAM-voted argmax of the
// 3D network's own point logits.
TEST(CnsRegime, SwitchMapsToItsTarget) {
  CnsRun s = make({"cns.switch=w_3d", "cns.warmup_epochs=0", "cns.lsc=none"});
  Regime& r = *s.job.regime;
  const Batch& b = s.b0;
  Tensor z3p = index_select(r.logits(b), 0, b.inverse);
  Tensor self = cns::refine_by_masks(argmax(z3p, 1), b.point_sam_ids, 20);
  const double expect = cross_entropy(z3p, self).item<float>();
  const double clip = cross_entropy(z3p, cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20)).item<float>();
  auto v = term_values(r.step(b, 0, 0));
  EXPECT_NEAR(v["ce_3d"], expect, 1e-5 * std::abs(expect));
  EXPECT_GT(std::abs(v["ce_3d"] - clip), 1e-4) << "the CLIP target must not be the one used";
}

TEST(CnsRegime, EvaluationReportsTwoDimensionalMiou) {
  CnsRun s = make();
  Regime& r = *s.job.regime;
  r.begin_eval();
  EXPECT_TRUE(r.eval_metrics().empty());
  ConfusionMatrix cm = evaluate(r, *s.job.val, 20, -1, false);
  nlohmann::json j = r.eval_metrics();
  ASSERT_TRUE(j.contains("miou_2d")) << j.dump();
  const double m2 = j["miou_2d"].get<double>();
  EXPECT_GE(m2, 0.0);
  EXPECT_LE(m2, 1.0);
  EXPECT_GT(j["valid_classes_2d"].get<int>(), 1);
  EXPECT_GT(cm.total(), 0);
  r.begin_eval();
  EXPECT_TRUE(r.eval_metrics().empty()) << "begin_eval resets the 2D confusion matrix";
}

TEST(CnsRegime, StateAndGeneratorsReproduceNextStepBitwise) {
  const std::vector<std::string> ov = {"cns.warmup_epochs=0"};
  CnsRun a = make(ov);
  optimizer_step(*a.job.regime, a.job.regime->step(a.b0, 0, 0));
  StateDict sd = a.job.regime->state();
  std::map<std::string, Generator> gens;
  for (auto& [n, g] : a.job.regime->generators()) gens.emplace(n, *g);
  ASSERT_EQ(gens.size(), 2u);
  auto va = term_values(a.job.regime->step(a.b1, 1, 0));

  CnsRun b = make(ov);
  for (auto& [k, v] : sd) sd[k] = v.clone();
  b.job.regime->load(sd);
  for (auto& [n, g] : b.job.regime->generators()) *g = gens.at(n);
  auto vb = term_values(b.job.regime->step(a.b1, 1, 0));
  ASSERT_EQ(va.size(), vb.size());
  for (auto& [k, x] : va) EXPECT_EQ(x, vb[k]) << k;
}

TEST(CnsRegime, PostRefineAndSwitchModes) {
  CnsRun s = make({"cns.refine=post"});
  Regime& r = *s.job.regime;
  r.set_training(false);
  Tensor z = r.logits(s.b0);
  r.set_training(true);
  EXPECT_EQ(z.size(0), s.b0.num_points());
  for (const char* mode : {"no_ct", "no_clip", "w_3d"}) {  // no_sct / w_2d are the same flag sets
    CnsRun m = make({std::string("cns.switch=") + mode, "cns.warmup_epochs=0", "cns.lsc=sam_clip"});
    auto v = term_values(m.job.regime->step(m.b0, 0, 0));
    for (auto& [k, x] : v) EXPECT_TRUE(std::isfinite(x)) << mode << " " << k;
  }
}

TEST(CnsRegime, ConfigErrors) {
  EXPECT_THROW(make({"cns.switch=bogus"}), Error);
  EXPECT_THROW(make({"cns.refine=later"}), Error);
  EXPECT_THROW(make({"cns.lsc=dino"}), Error);
  CnsRun s = make();
  Batch nb = s.b0;
  nb.pairs = Tensor();
  nb.view_scene = Tensor();
  try {
    s.job.regime->step(nb, 0, 0);
    FAIL() << "a batch without views must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("views"), std::string::npos) << e.what();
  }
}

TEST(CnsRegime, TrainerEvalRecordCarriesBothMious) {
  Config c = cns_config({"train.epochs=1", "train.eval_every=1"});
  Job job = build_job(c, JobKind::Train);
  job.trainer.verbose = false;
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  TrainResult res = t.run();
  ASSERT_TRUE(res.finished);
  ASSERT_TRUE(res.last_eval.contains("miou")) << res.last_eval.dump();
  ASSERT_TRUE(res.last_eval.contains("miou_2d")) << res.last_eval.dump();
  EXPECT_TRUE(res.last_eval["miou_2d"].is_number());
  EXPECT_EQ(res.last_eval["iou_2d"].size(), 20u);
}

// Controls (issue 19's protocol, data.label_source): gt trains the 3D network on the points' ground truth; permuted
// permutes the drawn target's labelled entries, shuffled draws uniform classes for them (here the warm-up target,
// by the regime's (seed, epoch, batch) generator).
TEST(CnsRegime, ControlsReplaceTheTargets) {
  {
    CnsRun s = make({"data.label_source=gt", "cns.lsc=none"});
    Regime& r = *s.job.regime;
    const Batch& b = s.b0;
    ASSERT_TRUE(b.labels.defined());
    Tensor z3p = index_select(r.logits(b), 0, b.inverse);
    const double expect = cross_entropy(z3p, b.labels.to(DType::i64)).item<float>();
    auto v = term_values(r.step(b, 0, 0));
    EXPECT_NEAR(v["ce_3d"], expect, 1e-5 * std::abs(expect));
    // the mechanism record: the target used is the ground truth (mIoU 1), the CLIP label is not
    nlohmann::json m = r.eval_metrics();
    ASSERT_TRUE(m.contains("miou_train_target_3d")) << m.dump();
    EXPECT_DOUBLE_EQ(m["miou_train_target_3d"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(m["accuracy_train_target_3d"].get<double>(), 1.0);
    for (const char* k : {"miou_train_clip_2d", "miou_train_clip_3d", "miou_train_pred_2d", "miou_train_pred_3d",
                          "miou_train_net_2d", "miou_train_net_3d", "coverage_train_clip_3d"})
      EXPECT_TRUE(m.contains(k)) << k;
    EXPECT_LT(m["miou_train_clip_3d"].get<double>(), 1.0);
    EXPECT_FALSE(r.eval_metrics().contains("miou_train_target_3d")) << "each evaluation reports the steps since the last";
  }
  {
    CnsRun s = make({"data.label_source=permuted", "cns.lsc=none"});
    Regime& r = *s.job.regime;
    const Batch& b = s.b0;
    Tensor z3p = index_select(r.logits(b), 0, b.inverse);
    Tensor clip = cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20);
    const uint64_t k = 5ULL * 0x9E3779B97F4A7C15ULL;  // run seed 5, epoch 0, batch 0
    Tensor shuffled = cns::shuffle_labels(clip, k ^ 0x3d);
    const double expect = cross_entropy(z3p, shuffled).item<float>();
    const double unshuffled = cross_entropy(z3p, clip).item<float>();
    auto v = term_values(r.step(b, 0, 0));
    EXPECT_NEAR(v["ce_3d"], expect, 1e-5 * std::abs(expect));
    EXPECT_GT(std::abs(v["ce_3d"] - unshuffled), 1e-4);
    nlohmann::json m = r.eval_metrics();
    EXPECT_LT(m["miou_train_target_3d"].get<double>(), m["miou_train_clip_3d"].get<double>())
        << "shuffled targets are worse than the labels they came from";
  }
  {  // shuffled: uniform random classes where the target labels a point
    CnsRun s = make({"data.label_source=shuffled", "cns.lsc=none"});
    Regime& r = *s.job.regime;
    const Batch& b = s.b0;
    Tensor z3p = index_select(r.logits(b), 0, b.inverse);
    Tensor clip = cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20);
    const double expect = cross_entropy(z3p, cns::random_labels(clip, 20, 5ULL * 0x9E3779B97F4A7C15ULL ^ 0x3e)).item<float>();
    EXPECT_NEAR(term_values(r.step(b, 0, 0))["ce_3d"], expect, 1e-5 * std::abs(expect));
  }
  EXPECT_THROW(make({"data.label_source=oracle"}), Error);
}

// Stage 0 (the 2D network's pre-training on P*_2D): only the 2D term in its epochs; stage 1 starts after it.
TEST(CnsRegime, StageZeroTrainsTheTwoDimensionalNetworkAlone) {
  CnsRun s = make({"cns.stage0_epochs=1", "cns.lsc=sam"});
  Regime& r = *s.job.regime;
  const Batch& b = s.b0;
  Generator* g = generator(r, "label_switch");
  const uint64_t off0 = g->offset();
  LossTerms t = r.step(b, 0, 0);
  auto v = term_values(t);
  EXPECT_EQ(v.size(), 1u);
  ASSERT_TRUE(v.count("ce_2d"));
  auto before = parameter_snapshot(r);
  optimizer_step(r, t);
  auto after = parameter_snapshot(r);
  for (auto& [k, a] : before)
    if (k.rfind("backbone3d.", 0) == 0 || k.rfind("head3d.", 0) == 0) {
      EXPECT_EQ(a, after[k]) << k << " waits in stage 0";
    }
  int moved2 = 0;
  for (auto& [k, a] : before) moved2 += k.rfind("net2d.", 0) == 0 && a != after[k];
  EXPECT_GT(moved2, 0);
  // epoch 1 = the paper's stage 1 (warm-up, no draw): the 3D term is back, against the refined CLIP labels
  Tensor z3p = index_select(r.logits(b), 0, b.inverse);
  const double expect = cross_entropy(z3p, cns::refine_by_masks(b.pseudo_labels, b.point_sam_ids, 20)).item<float>();
  auto v1 = term_values(r.step(b, 1, 0));
  EXPECT_NEAR(v1["ce_3d"], expect, 1e-5 * std::abs(expect));
  EXPECT_EQ(g->offset(), off0) << "stage 0 and stage 1 draw no label source";
  r.step(b, 2, 0);
  EXPECT_GT(g->offset(), off0) << "stage 2 from epoch warmup + stage0";
  EXPECT_THROW(make({"cns.stage0_epochs=-1"}), Error);
}
