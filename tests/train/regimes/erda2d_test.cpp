// SPDX-License-Identifier: Apache-2.0
// regime: erda2d (the 2D query-based ERDA variant) on 2 tiny synthetic scenes with 2 RGB-D views each (48x64,
// DeepLabV3-18 with 16 ASPP channels): one training step updates the class queries, the network, the classifier
// and mlp2 (terms ce / proto / erda finite); the step's labels are the weak pixel labels (counts per view and
// class); the soft-CE switches behave as in 3D (baseline = CE only from identical weights, ER + DA = ERDA on the
// same batch, ER sends no gradient into the classifier, stop-gradient into p leaves queries and mlp2 without
// gradient from the ERDA term); state() + the dropout generator reproduce the next step; evaluation reports miou_2d and p_acc (argmax p on the held-out views) through eval_metrics() and projects the 2D predictions
// to the paired points; a short Trainer run trains end to end (loss decreases, eval record carries miou_2d);
// config errors. (The weak pixel labels themselves: tests/io/loader/loader_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <unistd.h>

#include "engine/autograd.h"
#include "io/synthetic/dataset.h"
#include "train/components/erda.h"
#include "train/job.h"
#include "train/regime.h"
#include "train/trainer.h"
#include "tests/train/train_fixture.h"
#include "tests/train/regimes/regime_test_util.h"

using namespace leseg;
using namespace leseg::train;

namespace {

using leseg::train::testing::max_abs;
using leseg::train::testing::module_grad;
using leseg::train::testing::term_values;
using leseg::train::testing::parameter_snapshot;

const std::string& views_dataset() {
  static const std::string root = leseg::train::testing::tiny_views_dataset("erda2d_test", 13);
  return root;
}

Config erda2d_config(const std::vector<std::string>& extra) {
  return leseg::train::testing::views_config(
      "seed: 4\nregime: erda2d\n"
      "data: {batch_size: 2, val_batch_size: 1, voxel_size: 0.2, augment: true, workers: 0, views: true,\n"
      "       crop_height: 24, crop_width: 32, crop_min_pairs: 8, eval_view_crop: false, weak_pixel_labels: '5%'}\n"
      "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\n"
      "erda: {temperature: 0.1, attn_dim: 8, heads: 2}\n"
      "optim: {name: sgd, lr: 0.05, momentum: 0.9}\n"
      "train: {epochs: 2, log_every: 1, eval_every: -1}\n",
      "erda2d_tiny.yaml", views_dataset(), extra);
}

struct Run2d {
  Job job;
  Batch b0;
};

Run2d make(const std::vector<std::string>& extra = {}) {
  Config c = erda2d_config(extra);
  Run2d s{build_job(c, JobKind::Train), {}};
  s.job.train->begin_epoch(0);
  auto x = s.job.train->next();
  EXPECT_TRUE(x.has_value());
  s.b0 = *x;
  s.job.regime->set_training(true);
  return s;
}

void expect_config_error(const std::vector<std::string>& extra, const std::string& fragment) {
  try {
    Run2d s = make(extra);
    s.job.regime->step(s.b0, 0, 0);
    ADD_FAILURE() << "no error for " << extra[0];
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Erda2dRegime, OneStepUpdatesQueriesAndNetwork) {
  Run2d s = make({"optim.weight_decay=0"});
  Regime& r = *s.job.regime;
  ASSERT_EQ(s.b0.num_views(), 4);
  auto before = parameter_snapshot(r);
  LossTerms t = r.step(s.b0, 0, 0);
  std::set<std::string> names;
  for (auto& [n, v] : term_values(t)) {
    names.insert(n);
    EXPECT_TRUE(std::isfinite(v)) << n;
    EXPECT_GT(v, 0.0) << n;
  }
  EXPECT_EQ(names, (std::set<std::string>{"ce", "proto", "erda"}));
  t.total().backward();
  for (const char* m : {"net2d", "head", "proj", "queries"}) EXPECT_GT(module_grad(r, m), 0.0) << m;
  for (auto& [mn, m] : r.modules()) {
    if (mn == "queries") {
      EXPECT_GT(max_abs(m->named_parameters().at(0).second.grad()), 0.0);
    }
  }
  for (auto& slot : r.optimizers()) slot.optimizer->step();
  auto after = parameter_snapshot(r);
  for (const char* key : {"queries.queries", "queries.k_proj.weight", "net2d.backbone.conv1.weight",
                          "head.linear.weight", "proj.fc1.weight"}) {
    ASSERT_TRUE(before.count(key)) << key;
    EXPECT_NE(before.at(key), after.at(key)) << key;
  }
}

TEST(Erda2dRegime, TrainsOnWeakPixelLabels) {
  // The loader made the view labels weak on the full images (counts per view and class: io/loader's test);
  // here: the training batch says so, its labelled pixels agree with the full labels of the same crops ("100%",
  // same seed, same crops) and are a small subset of them.
  Run2d s = make();
  Run2d all = make({"data.weak_pixel_labels=100%"});
  const Batch& b = s.b0;
  ASSERT_TRUE(b.view_labels_weak);
  ASSERT_EQ(b.view_gt_labels.shape(), all.b0.view_gt_labels.shape());
  auto w = b.view_gt_labels.to_vector<int32_t>(), full = all.b0.view_gt_labels.to_vector<int32_t>();
  int64_t kept = 0, labelled = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    labelled += full[i] >= 0;
    if (w[i] < 0) continue;
    ++kept;
    ASSERT_EQ(w[i], full[i]) << "pixel " << i;
  }
  ASSERT_GT(kept, 0);
  ASSERT_GT(labelled, 5 * kept);  // 5 %: mostly unlabelled (nearest resizing of the crop may repeat a pixel)
  // a batch with full labels is refused (the regime never subsamples on its own)
  Batch nf = b;
  nf.view_labels_weak = false;
  EXPECT_THROW(s.job.regime->step(nf, 0, 0), Error);
  // the step trains on these labels: "100%" (every ground-truth label) gives another CE from the same weights
  auto ta = term_values(all.job.regime->step(all.b0, 0, 0)), tw = term_values(s.job.regime->step(s.b0, 0, 0));
  EXPECT_TRUE(std::isfinite(ta.at("ce")) && std::isfinite(tw.at("ce")));
  EXPECT_NE(ta.at("ce"), tw.at("ce"));
}

TEST(Erda2dRegime, SoftCrossEntropySwitchesBehaveAsIn3d) {
  // proto term off throughout: the ERDA term is then the only path into mlp2 and the queries (the first step's
  // term values do not depend on the other terms' weights)
  Run2d base = make({"erda.enabled=false"});
  Run2d full = make({"erda.proto_weight=0"});
  // baseline: CE only, identical initial network + classifier (same first-batch CE as the full run)
  auto tb = term_values(base.job.regime->step(base.b0, 0, 0));
  LossTerms lf = full.job.regime->step(full.b0, 0, 0);
  auto tf = term_values(lf);
  EXPECT_EQ(tb.size(), 1u);
  EXPECT_EQ(tf.size(), 2u);
  EXPECT_EQ(tb.at("ce"), tf.at("ce"));
  for (auto& [mn, m] : base.job.regime->modules()) EXPECT_TRUE(mn == "net2d" || mn == "head") << mn;
  // same batch, same weights: ER + DA = ERDA (H(p) + KL(p‖q) = soft-CE)
  Run2d er = make({"erda.term=er", "erda.proto_weight=0", "loss.weight=0"}), da = make({"erda.term=da", "erda.proto_weight=0"});
  LossTerms ler = er.job.regime->step(er.b0, 0, 0);
  auto ter = term_values(ler), tda = term_values(da.job.regime->step(da.b0, 0, 0));
  ASSERT_TRUE(ter.count("er") && tda.count("da"));
  EXPECT_GT(ter.at("er"), 0.0);
  EXPECT_GT(tda.at("da"), 0.0);
  EXPECT_NEAR(ter.at("er") + tda.at("da"), tf.at("erda"), 1e-4 * tf.at("erda"));
  // ER depends on p only: no gradient into the classifier from it (CE weighted 0)
  ler.total().backward();
  EXPECT_EQ(module_grad(*er.job.regime, "head"), 0.0);
  EXPECT_GT(module_grad(*er.job.regime, "queries"), 0.0);
  // gradient into p reaches mlp2 and the queries only with coadapt
  lf.total().backward();
  Run2d stop = make({"erda.coadapt=false", "erda.proto_weight=0"});
  stop.job.regime->step(stop.b0, 0, 0).total().backward();
  for (Regime* r : {full.job.regime.get(), stop.job.regime.get()}) {
    const bool coadapt = r == full.job.regime.get();
    EXPECT_GT(module_grad(*r, "head"), 0.0);
    for (const char* m : {"proj", "queries"}) {
      if (coadapt) EXPECT_GT(module_grad(*r, m), 0.0) << m;
      else EXPECT_EQ(module_grad(*r, m), 0.0) << m;
    }
  }
}

// Checkpoint state: state() (network, BN buffers, mlp2, queries) + the dropout generator reproduce the next step
// bit for bit.
TEST(Erda2dRegime, StateRoundTripReproducesNextStep) {
  Run2d a = make();
  Regime& ra = *a.job.regime;
  ra.step(a.b0, 0, 0).total().backward();
  for (auto& slot : ra.optimizers()) slot.optimizer->step();
  StateDict sd = ra.state();
  for (const char* k : {"queries.queries", "queries.o_proj.weight", "proj.bn.running_mean", "head.linear.weight"})
    EXPECT_TRUE(sd.count(k)) << k;
  Run2d b = make();
  Regime& rb = *b.job.regime;
  rb.load(sd);
  auto ga = ra.generators(), gb = rb.generators();
  ASSERT_EQ(ga.size(), 3u);  // net2d_dropout, controls, strong
  ASSERT_EQ(gb.size(), 3u);
  for (size_t i = 0; i < ga.size(); ++i) *gb[i].second = *ga[i].second;
  auto ta = term_values(ra.step(a.b0, 0, 1)), tb = term_values(rb.step(b.b0, 0, 1));
  ASSERT_EQ(ta.size(), 3u);
  for (auto& [n, v] : ta) EXPECT_EQ(v, tb.at(n)) << n;
}

TEST(Erda2dRegime, EvaluationReportsMiou2dAndProjectsToPoints) {
  Run2d s = make();
  Regime& r = *s.job.regime;
  s.job.val->begin_epoch(0);
  auto vb = s.job.val->next();
  ASSERT_TRUE(vb.has_value());
  ASSERT_GT(vb->num_views(), 0);
  r.set_training(false);
  r.begin_eval();
  EXPECT_TRUE(r.eval_metrics().empty());
  Tensor z = r.logits(*vb);
  const int64_t N = vb->num_points(), C = 20;
  ASSERT_EQ(z.shape(), (Shape{N, C}));
  // one-hot rows exactly at the points some view pairs, zero rows elsewhere
  std::set<int64_t> paired;
  auto pr = vb->pairs.to(DType::i64).to_vector<int64_t>();
  for (size_t i = 0; i < pr.size(); i += 3) paired.insert(pr[i]);
  ASSERT_FALSE(paired.empty());
  auto zz = z.to_vector<float>();
  for (int64_t i = 0; i < N; ++i) {
    double sum = 0;
    for (int64_t k = 0; k < C; ++k) sum += zz[size_t(i * C + k)];
    EXPECT_EQ(sum, paired.count(i) ? 1.0 : 0.0) << "point " << i;
  }
  nlohmann::json m = r.eval_metrics();
  ASSERT_TRUE(m.contains("miou_2d") && m.contains("accuracy_2d") && m.contains("iou_2d"));
  EXPECT_GE(m["miou_2d"].get<double>(), 0.0);
  EXPECT_LE(m["miou_2d"].get<double>(), 1.0);
  EXPECT_GE(m["valid_classes_2d"].get<int>(), 2);
  EXPECT_EQ(m["iou_2d"].size(), size_t(C));
  // the ERDA mechanism: argmax p scored on every labelled pixel of the held-out views (the same pixels as accuracy_2d)
  int64_t labelled = 0;
  for (int64_t g : vb->view_gt_labels.to(DType::i64).to_vector<int64_t>()) labelled += g >= 0;
  ASSERT_GT(labelled, 0);
  ASSERT_TRUE(m.contains("p_acc") && m.contains("p_acc_n")) << m.dump();
  EXPECT_EQ(m["p_acc_n"].get<int64_t>(), labelled);
  EXPECT_GE(m["p_acc"].get<double>(), 0.0);
  EXPECT_LE(m["p_acc"].get<double>(), 1.0);
  r.begin_eval();
  EXPECT_TRUE(r.eval_metrics().empty());
  // the CE-only row has no query head and so no p_acc
  Run2d ce = make({"erda.enabled=false"});
  ce.job.regime->set_training(false);
  ce.job.regime->begin_eval();
  ce.job.regime->logits(*vb);
  nlohmann::json mc = ce.job.regime->eval_metrics();
  EXPECT_TRUE(mc.contains("miou_2d"));
  EXPECT_FALSE(mc.contains("p_acc"));
}

TEST(Erda2dRegime, ShortRunTrainsEndToEnd) {
  Config c = erda2d_config({"data.batch_size=1", "train.epochs=6", "train.eval_every=6", "data.augment=false",
                            "data.view_hflip=0"});
  Job job = build_job(c, JobKind::Train);
  job.trainer.verbose = false;
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  TrainResult res = t.run();
  ASSERT_EQ(res.steps, 12);
  ASSERT_EQ(res.step_losses.size(), 12u);
  for (double l : res.step_losses) ASSERT_TRUE(std::isfinite(l));
  const double first = (res.step_losses[0] + res.step_losses[1]) / 2, last = (res.step_losses[10] + res.step_losses[11]) / 2;
  std::printf("erda2d short run: step losses");
  for (double l : res.step_losses) std::printf(" %.3f", l);
  std::printf(", miou_2d %.4f\n", res.last_eval.value("miou_2d", -1.0));
  EXPECT_LT(last, 0.85 * first) << "mean loss of steps 1-2 " << first << ", of steps 11-12 " << last;
  ASSERT_TRUE(res.last_eval.contains("miou_2d"));
  EXPECT_GT(res.last_eval["miou_2d"].get<double>(), 0.0);
  EXPECT_TRUE(res.last_eval.contains("miou"));
}

TEST(Erda2dRegime, ConfigErrors) {
  expect_config_error({"erda.attend=pixels"}, "erda.attend");
  expect_config_error({"erda.temperature=0"}, "erda.temperature");
  expect_config_error({"loss.ignore_index=3"}, "ignore_index");
  expect_config_error({"erda.heads=3"}, "erda.heads");
  expect_config_error({"data.weak_pixel_labels=abc"}, "weak labels");
  expect_config_error({"data.weak_pixel_labels="}, "set data.weak_pixel_labels");
  // a batch without views
  Config c = Config::from_string(
      "seed: 4\nregime: erda2d\ndata: {batch_size: 1, voxel_size: 0.2, workers: 0, weak_pixel_labels: '1%'}\n"
      "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\nerda: {attn_dim: 8, heads: 2}\n"
      "train: {epochs: 1, eval_every: -1}\n",
      "erda2d_noviews.yaml");
  c.apply_overrides({"data.root=" + views_dataset(), "train.out=" + (std::filesystem::path(views_dataset()).parent_path() / "noviews").string()});
  Job job = build_job(c, JobKind::Train);
  job.train->begin_epoch(0);
  auto b = job.train->next();
  ASSERT_TRUE(b.has_value());
  try {
    job.regime->step(*b, 0, 0);
    ADD_FAILURE() << "no error for a batch without views";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no views"), std::string::npos) << e.what();
  }
}
