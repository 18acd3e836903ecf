// SPDX-License-Identifier: Apache-2.0
// regime: erda on 2 tiny synthetic scenes (tiny MinkUNet): one training step updates backbone, classifier and
// mlp2 and the prototype EMA, with finite "ce" + "erda" terms; the first step's ERDA term equals w · soft-CE
// against uniform pseudo-labels over the unlabelled points (zero prototypes, pre-update P: an independent host
// computation from the logits); ablation switches (baseline, er, da, stop-gradient into p); state()/load()
// reproduces the next step bit for bit (prototypes + BN buffers); data.weak_labels "1%" through the job keeps
// exactly max(floor(0.01 n_c), 1) points per scene and class; config errors.
// (Prototype update on hand-made features and H(p) + KL(p‖q) are in tests/train/components/erda_test.cpp,
// weak-label sampling formulas in tests/io/loader/splits_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "engine/autograd.h"
#include "engine/ops/shape_ops.h"
#include "train/job.h"
#include "train/regime.h"
#include "train/trainer.h"
#include "engine/checkpoint/checkpoint.h"
#include "tests/train/train_fixture.h"
#include "tests/train/regimes/regime_test_util.h"

using namespace leseg;
using namespace leseg::train;
using leseg::train::testing::scratch;
using leseg::train::testing::tiny_config;

namespace {

using leseg::train::testing::max_abs;
using leseg::train::testing::term_values;
using leseg::train::testing::state_snapshot;

Config erda_config(const std::vector<std::string>& extra, bool weak) {
  Config c = tiny_config(scratch("erda_run"));
  c.apply_overrides({"regime=erda", "data.batch_size=2", "data.workers=0"});
  if (weak) c.apply_overrides({"data.weak_labels=1%"});
  c.apply_overrides(extra);
  return c;
}

struct ErdaSetup {
  Job job;
  Batch b0, b1;
};

ErdaSetup make(const std::vector<std::string>& extra = {}, bool weak = true) {
  Config c = erda_config(extra, weak);
  ErdaSetup s{build_job(c, JobKind::Train), {}, {}};
  s.job.train->begin_epoch(0);
  auto x = s.job.train->next();
  auto y = s.job.train->next();
  EXPECT_TRUE(x.has_value() && y.has_value());
  s.b0 = *x;
  s.b1 = *y;
  s.job.regime->set_training(true);
  return s;
}

std::set<std::string> names(const LossTerms& t) {
  std::set<std::string> s;
  for (auto& [n, v] : t.terms) s.insert(n);
  return s;
}

void expect_config_error(const std::vector<std::string>& extra, const std::string& fragment) {
  try {
    make(extra);
    ADD_FAILURE() << "no error for " << extra[0];
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ErdaRegime, OneStepUpdatesModelsAndPrototypes) {
  // no weight decay: every parameter change below comes from a gradient
  ErdaSetup s = make({"optim.weight_decay=0"});
  Regime& r = *s.job.regime;
  ASSERT_EQ(s.b0.num_scenes, 2);
  auto before = state_snapshot(r);
  LossTerms t = r.step(s.b0, 0, 0);
  EXPECT_EQ(names(t), (std::set<std::string>{"ce", "erda"}));
  for (auto& [n, v] : term_values(t)) {
    EXPECT_TRUE(std::isfinite(v)) << n;
    EXPECT_GT(v, 0.0) << n;
  }
  t.total().backward();
  for (auto& slot : r.optimizers()) slot.optimizer->step();
  auto after = state_snapshot(r);
  // first step: zero prototypes (pre-update P) give cos = 0 and no gradient into mlp2; backbone, classifier
  // and the prototype EMA move.
  auto changed = [&](const std::map<std::string, std::vector<float>>& x, const std::map<std::string, std::vector<float>>& y,
                     const std::string& prefix) {
    bool found = false, ch = false;
    for (auto& [k, v] : y) {
      if (k.rfind(prefix, 0) != 0) continue;
      found = true;
      ch = ch || v != x.at(k);
    }
    EXPECT_TRUE(found) << prefix;
    return ch;
  };
  EXPECT_TRUE(changed(before, after, "backbone."));
  EXPECT_TRUE(changed(before, after, "head."));
  EXPECT_TRUE(changed(before, after, "prototypes.prototypes"));
  // the EMA moved the zero prototypes by (1 - 0.999) · class mean: small but non-zero
  double pm = 0;
  for (float v : after.at("prototypes.prototypes")) pm = std::max(pm, double(std::abs(v)));
  EXPECT_GT(pm, 0.0);
  EXPECT_LT(pm, 0.1);

  // second step: P != 0, the ERDA term reaches mlp2 (coadapt) and every parameter has a gradient
  for (auto& slot : r.optimizers()) slot.optimizer->zero_grad();
  LossTerms t2 = r.step(s.b1, 0, 1);
  for (auto& [n, v] : term_values(t2)) EXPECT_TRUE(std::isfinite(v)) << n;
  t2.total().backward();
  for (auto& [mn, m] : r.modules()) {
    if (mn == "prototypes") continue;
    for (auto& [pn, p] : m->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << mn << "." << pn;
      if (mn != "backbone") {
        EXPECT_GT(max_abs(p.grad()), 0.0) << mn << "." << pn;
      }
    }
  }
  for (auto& slot : r.optimizers()) slot.optimizer->step();
  auto after2 = state_snapshot(r);
  for (const char* key : {"proj.fc1.weight", "proj.fc2.weight", "proj.bn.weight", "head.", "backbone.", "prototypes."})
    EXPECT_TRUE(changed(after, after2, key)) << key;
}

TEST(ErdaRegime, FirstStepIsSoftCrossEntropyToUniformOverUnlabelledPoints) {
  ErdaSetup s = make();
  Regime& r = *s.job.regime;
  auto t = term_values(r.step(s.b0, 0, 0));
  // zero prototypes, pre-update P: cos = 0, p uniform; loss = 0.1 · mean_i (−1/C Σ_k log q_ik), unlabelled i.
  Tensor zv = r.logits(s.b0);  // training mode: same batch statistics as the step
  Tensor z = index_select(zv, 0, s.b0.inverse).to(DType::f64);
  const int64_t N = z.size(0), C = z.size(1);
  auto zz = z.to_vector<double>();
  auto lab = s.b0.labels.to(DType::i64).to_vector<int64_t>();
  double sum = 0;
  int64_t U = 0, L = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (lab[size_t(i)] >= 0) {
      ++L;
      continue;
    }
    double mx = -1e300;
    for (int64_t k = 0; k < C; ++k) mx = std::max(mx, zz[size_t(i * C + k)]);
    double se = 0;
    for (int64_t k = 0; k < C; ++k) se += std::exp(zz[size_t(i * C + k)] - mx);
    double row = 0;
    for (int64_t k = 0; k < C; ++k) row += -(zz[size_t(i * C + k)] - mx - std::log(se)) / double(C);
    sum += row;
    ++U;
  }
  ASSERT_GT(L, 0);
  ASSERT_GT(U, 10 * L);  // 1 % weak labels: most points unlabelled
  const double ref = 0.1 * sum / double(U);
  EXPECT_NEAR(t.at("erda"), ref, 1e-5 * std::abs(ref) + 1e-6) << "U=" << U << " L=" << L;
}

// The eval record carries p_acc (argmax p against GT on the evaluation rooms' points, none labelled for training)
// with the number of points scored; the CE-only baseline (no prototypes) writes nothing; a training step scores
// nothing (its batches carry only weak labels).
TEST(ErdaRegime, EvalRecordScoresPseudoLabelsOnUnlabelledPoints) {
  ErdaSetup s = make();
  s.job.regime->step(s.b0, 0, 0);  // prototypes from the labelled rows
  ASSERT_TRUE(s.job.val);
  s.job.val->begin_epoch(0);
  auto vb = s.job.val->next();
  ASSERT_TRUE(vb.has_value());
  s.job.regime->set_training(false);
  s.job.regime->begin_eval();
  s.job.regime->logits(*vb);
  nlohmann::json j = s.job.regime->eval_metrics();
  ASSERT_TRUE(j.contains("p_acc")) << j.dump();
  int64_t labelled = 0;
  for (int32_t l : vb->labels.to_vector<int32_t>()) labelled += l >= 0;
  EXPECT_EQ(j["p_acc_n"].get<int64_t>(), labelled);
  EXPECT_GE(j["p_acc"].get<double>(), 0.0);
  EXPECT_LE(j["p_acc"].get<double>(), 1.0);
  // outside begin_eval .. eval_metrics nothing is scored
  s.job.regime->logits(*vb);
  EXPECT_TRUE(s.job.regime->eval_metrics().empty());
  ErdaSetup base = make({"erda.enabled=false"});
  base.job.regime->set_training(false);
  base.job.regime->begin_eval();
  base.job.regime->logits(*vb);
  EXPECT_TRUE(base.job.regime->eval_metrics().empty());
}

TEST(ErdaRegime, AblationSwitches) {
  ErdaSetup base = make({"erda.enabled=false"});
  ErdaSetup full = make();
  LossTerms tb = base.job.regime->step(base.b0, 0, 0);
  LossTerms tf = full.job.regime->step(full.b0, 0, 0);
  EXPECT_EQ(names(tb), std::set<std::string>{"ce"});
  for (auto& [mn, m] : base.job.regime->modules()) EXPECT_TRUE(mn == "backbone" || mn == "head") << mn;
  // same initial backbone + classifier: identical CE on the first batch
  EXPECT_EQ(term_values(tb).at("ce"), term_values(tf).at("ce"));

  for (const char* term : {"er", "da"}) {
    ErdaSetup s = make({std::string("erda.term=") + term});
    auto t = term_values(s.job.regime->step(s.b0, 0, 0));
    EXPECT_EQ(t.size(), 2u);
    ASSERT_TRUE(t.count(term)) << term;
    EXPECT_TRUE(std::isfinite(t.at(term)));
    // first step, uniform p: ER = 0.1 · H(uniform) = 0.1 · log C; DA = 0.1 · KL(uniform ‖ q) > 0
    if (std::string(term) == "er") EXPECT_NEAR(t.at(term), 0.1 * std::log(20.0), 1e-5);
    else EXPECT_GT(t.at(term), 0.0);
  }
  // gradient into p reaches the projection head only with coadapt (after one step, P is non-zero)
  for (bool coadapt : {true, false}) {
    ErdaSetup s = make({std::string("erda.coadapt=") + (coadapt ? "true" : "false")});
    Regime& r = *s.job.regime;
    r.step(s.b0, 0, 0);  // fills the prototypes
    for (auto& slot : r.optimizers()) slot.optimizer->zero_grad();
    r.step(s.b1, 0, 1).total().backward();
    const double g = leseg::train::testing::module_grad(r, "proj");
    if (coadapt) EXPECT_GT(g, 0.0);
    else EXPECT_EQ(g, 0.0);
  }
}

TEST(ErdaRegime, StateRoundTripReproducesNextStep) {
  ErdaSetup a = make();
  Regime& ra = *a.job.regime;
  ra.step(a.b0, 0, 0).total().backward();
  for (auto& slot : ra.optimizers()) slot.optimizer->step();
  StateDict sd = ra.state();
  EXPECT_TRUE(sd.count("prototypes.prototypes"));
  EXPECT_TRUE(sd.count("proj.bn.running_mean"));
  ErdaSetup b = make();
  b.job.regime->load(sd);
  auto ta = term_values(ra.step(a.b1, 0, 1));
  auto tb = term_values(b.job.regime->step(b.b1, 0, 1));
  ASSERT_EQ(ta.size(), 2u);
  for (auto& [n, v] : ta) EXPECT_EQ(v, tb.at(n)) << n;
  auto pa = state_snapshot(ra).at("prototypes.prototypes"), pb = state_snapshot(*b.job.regime).at("prototypes.prototypes");
  EXPECT_EQ(pa, pb);
}

// Through the Trainer: stop after 3 of 4 optimizer steps (mid-epoch), resume, and the remaining step's loss and
// the final prototypes equal those of an uninterrupted run bit for bit.
TEST(ErdaRegime, TrainerResumeIsBitIdentical) {
  auto run = [](const std::string& out, const std::vector<std::string>& extra, const std::string& resume) {
    Config c = erda_config(extra, true);
    c.apply_overrides({"train.out=" + out});
    Job job = build_job(c, JobKind::Train);
    job.trainer.resume = resume;
    job.trainer.verbose = false;
    Trainer t(*job.regime, *job.train, nullptr, job.trainer);
    return t.run();
  };
  const std::string a = scratch("erda_resume_a"), b = scratch("erda_resume_b");
  TrainResult full = run(a, {}, "");
  ASSERT_EQ(full.steps, 4);  // 4 scenes, batch 2, 2 epochs
  TrainResult p1 = run(b, {"train.max_steps=3"}, "");
  ASSERT_EQ(p1.steps, 3);
  TrainResult p2 = run(b, {}, b);
  ASSERT_EQ(p2.step_losses.size(), 1u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(p1.step_losses[i], full.step_losses[i]) << "step " << i + 1;
  EXPECT_EQ(p2.step_losses[0], full.step_losses[3]);
  Checkpoint ca = load_checkpoint(full.last_checkpoint), cb = load_checkpoint(p2.last_checkpoint);
  for (const char* k : {"prototypes.prototypes", "proj.fc2.weight", "proj.bn.running_var", "head.linear.weight"}) {
    ASSERT_TRUE(ca.model.count(k) && cb.model.count(k)) << k;
    EXPECT_EQ(ca.model.at(k).to_vector<float>(), cb.model.at(k).to_vector<float>()) << k;
  }
}

TEST(ErdaRegime, WeakLabelsThroughTheConfig) {
  ErdaSetup weak = make();
  // (the run folder is scratch: keep a copy of the table before the next job clears it)
  const std::string saved = (std::filesystem::path(scratch("erda_weak_copy")) += ".txt").string();
  const std::string written = (std::filesystem::path(weak.job.trainer.out_dir) / "weak_labels.txt").string();
  ASSERT_TRUE(std::filesystem::exists(written)) << written;
  std::filesystem::copy_file(written, saved);
  ErdaSetup full = make({}, /*weak=*/false);  // every label
  const Batch &w = weak.b0, &f = full.b0;
  ASSERT_EQ(w.scene_names, f.scene_names);
  auto lw = w.labels.to(DType::i64).to_vector<int64_t>(), lf = f.labels.to(DType::i64).to_vector<int64_t>();
  ASSERT_EQ(lw.size(), lf.size());
  for (int64_t b = 0; b < w.num_scenes; ++b) {
    std::map<int64_t, int64_t> nf, nw;
    for (int64_t i = w.point_offsets[size_t(b)]; i < w.point_offsets[size_t(b) + 1]; ++i) {
      if (lf[size_t(i)] >= 0) ++nf[lf[size_t(i)]];
      if (lw[size_t(i)] >= 0) {
        EXPECT_EQ(lw[size_t(i)], lf[size_t(i)]) << "weak label differs from the full label at point " << i;
        ++nw[lw[size_t(i)]];
      }
    }
    ASSERT_GE(nf.size(), 2u);
    for (auto& [c, n] : nf)
      EXPECT_EQ(nw[c], std::max<int64_t>(int64_t(std::floor(0.01 * double(n))), 1))
          << w.scene_names[size_t(b)] << " class " << c << " of " << n;
    EXPECT_EQ(nw.size(), nf.size());
  }
  // saved with the run: <out>/weak_labels.txt; reading it back (data.weak_labels = the file) gives the same labels
  ErdaSetup again = make({"data.weak_labels=" + saved}, /*weak=*/false);
  ASSERT_EQ(again.b0.scene_names, w.scene_names);
  EXPECT_EQ(again.b0.labels.to(DType::i64).to_vector<int64_t>(), lw);
}

TEST(ErdaRegime, ConfigErrors) {
  expect_config_error({"erda.term=xy"}, "erda.term");
  expect_config_error({"erda.variant=query2d"}, "query2d");
  expect_config_error({"loss.ignore_index=3"}, "ignore_index");
  expect_config_error({"erda.momentum=1.5"}, "erda.momentum");
  expect_config_error({"erda.momentum=fast"}, "erda.momentum");
  expect_config_error({"erda.rows=some"}, "erda.rows");
}
