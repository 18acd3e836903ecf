// SPDX-License-Identifier: Apache-2.0
// regime lass3d on two tiny synthetic rooms with views and captions (one labelled, one not), two augmented
// views per scene: one step gives every named term (finite, the right ones non-zero), updates the student, the
// teacher follows by exactly the EMA formula after the optimizer step (Regime::after_optimizer_step), the switches remove their terms and modules, τ
// drives the reliable / unreliable split through the (epoch, batch) position, and state()/load() reproduce a
// step bit for bit. (Loss terms, τ schedule, SAAF and KD on hand-made inputs: tests/train/components.)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/reduce.h"
#include "io/loader/loader.h"
#include "io/synthetic/dataset.h"
#include "train/regime.h"
#include "tests/train/regimes/regime_test_util.h"

namespace leseg::train {
namespace {

using leseg::train::testing::term_values;

const std::string& views_dataset() {
  static std::string root;
  if (root.empty()) {
    root = (std::filesystem::temp_directory_path() / ("leseg_lass3d_test_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = 2;
    o.val_scenes = 1;
    o.seed = 5;
    o.text_dim = 16;
    o.indoor.num_views = 2;
    o.indoor.point_density = 60;
    o.indoor.geometric_segments = false;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

Config tiny_config(const std::string& extra = "") {
  Config c = Config::from_string(
      "seed: 1\nregime: lass3d\n"
      "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n"
      "lass3d: {saaf_attn_dim: 8, saaf_heads: 2}\n"
      "optim: {name: sgd, lr: 0.1, momentum: 0.9}\n",
      "lass3d_tiny.yaml");
  c.apply_overrides({"data.root=" + views_dataset()});
  if (!extra.empty()) c.apply_overrides({extra});
  return c;
}

std::unique_ptr<Regime> make(const Config& cfg, int64_t epochs = 2) {
  auto r = create_regime("lass3d");
  BuildContext ctx;
  ctx.epochs = epochs;
  ctx.steps_per_epoch = 1;
  ctx.num_classes = 20;
  ctx.in_channels = 3;
  ctx.seed = 1;
  r->build(cfg, ctx);
  return r;
}

// Batch of both training rooms: the first labelled, the second not; teacher = a second augmentation.
const Batch& tiny_batch() {
  static Batch b = [] {
    io::loader::LoaderOptions o;
    o.batch_size = 2;
    o.shuffle = false;
    o.num_workers = 0;
    o.seed = 3;
    o.two_views = true;
    o.batch.voxel_size = 0.2;
    o.batch.views.enabled = true;
    o.batch.views.crop_options.min_pairs = 16;
    const std::vector<std::string> names = io::read_split(views_dataset(), "train");
    o.labels.labelled_scenes = std::set<std::string>{names[0]};
    io::loader::Loader l(io::loader::directory_source(views_dataset(), "train"), o);
    return l.build(0, 0);
  }();
  return b;
}

Tensor param(Regime& r, const std::string& module, const std::string& name) {
  for (auto& [n, m] : r.modules())
    if (n == module)
      for (auto& [pn, p] : m->named_parameters())
        if (pn == name) return p;
  ADD_FAILURE() << "no parameter " << module << "." << name;
  return Tensor();
}

TEST(Lass3dRegime, BatchHasWhatTheRegimeReads) {
  const Batch& b = tiny_batch();
  ASSERT_TRUE(b.teacher);
  EXPECT_EQ(b.teacher->num_points(), b.num_points());
  ASSERT_EQ(b.scene_labelled.size(), 2u);
  EXPECT_EQ(b.scene_labelled[0], 1);
  EXPECT_EQ(b.scene_labelled[1], 0);
  ASSERT_TRUE(b.caption_scene.defined());
  ASSERT_TRUE(b.caption_objects.defined());
  EXPECT_GT(b.pairs.size(0), 0);
}

TEST(Lass3dRegime, OneStepUpdatesStudentAndTeacherFollowsByEma) {
  auto r = make(tiny_config());
  r->set_training(true);
  const Batch& b = tiny_batch();
  LossTerms t = r->step(b, 0, 0);
  auto v = term_values(t);
  ASSERT_EQ(v.size(), 4u);
  for (const char* k : {"ce", "pseudo_ce", "neg", "kd"}) {
    ASSERT_TRUE(v.count(k)) << k;
    EXPECT_TRUE(std::isfinite(v[k])) << k;
  }
  EXPECT_GT(v["ce"], 0.0);  // the labelled room
  EXPECT_GT(v["kd"], 0.0);
  EXPECT_GT(v["pseudo_ce"] + v["neg"], 0.0);  // the unlabelled room: at τ = 0.9 some rows on each side or the other

  const std::string w = "conv0p1s1.kernel";
  Tensor s0 = param(*r, "backbone", w).detach().to(DType::f64), t0 = param(*r, "teacher", w).detach().to(DType::f64);
  std::vector<double> s0v = s0.to_vector<double>(), t0v = t0.to_vector<double>();
  for (size_t i = 0; i < s0v.size(); ++i) ASSERT_EQ(s0v[i], t0v[i]) << "teacher starts as a copy of the student";

  t.total().backward();
  for (const char* mod : {"saaf", "kd"}) {
    bool any = false;
    for (auto& [n, m] : r->modules())
      if (n == mod)
        for (auto& p : m->parameters()) {
          ASSERT_TRUE(p.grad().defined()) << mod;
          for (double g : p.grad().to(DType::f64).to_vector<double>()) any = any || g != 0.0;
        }
    EXPECT_TRUE(any) << mod << " receives no gradient";
  }
  for (auto& slot : r->optimizers()) {
    slot.optimizer->step();
    slot.optimizer->zero_grad();
  }
  std::vector<double> s1v = param(*r, "backbone", w).detach().to(DType::f64).to_vector<double>();
  std::vector<double> t1v = param(*r, "teacher", w).detach().to(DType::f64).to_vector<double>();
  int changed = 0;
  for (size_t i = 0; i < s1v.size(); ++i) {
    changed += s1v[i] != s0v[i];
    ASSERT_EQ(t1v[i], t0v[i]) << "the teacher moves only through the EMA";
  }
  EXPECT_GT(changed, int(s1v.size()) / 2);

  r->after_optimizer_step(1);  // teacher = 0.99 teacher + 0.01 student
  std::vector<double> t2v = param(*r, "teacher", w).detach().to(DType::f64).to_vector<double>();
  int moved = 0;
  for (size_t i = 0; i < t2v.size(); ++i) {
    const double ref = 0.99 * t0v[i] + 0.01 * s1v[i];
    ASSERT_NEAR(t2v[i], ref, 1e-6 + 1e-5 * std::abs(ref)) << "element " << i;
    moved += t2v[i] != t0v[i];
  }
  EXPECT_GT(moved, 0);
}

// KD's direction (issue 20, review §1.1): by default the student's backbone learns to predict its own text-enhanced
// features, so the KD term's gradient reaches the backbone and the KD head but not SAAF; the earlier reading
// (to_teacher) pulls the text-enhanced features toward the teacher, so its gradient does reach SAAF.
TEST(Lass3dRegime, KdDirectionDecidesWhichSideLearns) {
  auto grad_abs = [](Regime& r, const std::string& module) {
    double a = 0;
    for (auto& [n, m] : r.modules())
      if (n == module)
        for (auto& p : m->parameters())
          if (p.grad().defined())
            for (double g : p.grad().to(DType::f64).to_vector<double>()) a += std::abs(g);
    return a;
  };
  for (const char* dir : {"text_to_backbone", "to_teacher"}) {
    SCOPED_TRACE(dir);
    auto r = make(tiny_config(std::string("lass3d.kd_direction=") + dir));
    r->set_training(true);
    LossTerms t = r->step(tiny_batch(), 0, 0);
    Tensor kd;
    for (auto& [n, v] : t.terms)
      if (n == "kd") kd = v;
    ASSERT_TRUE(kd.defined());
    EXPECT_GT(kd.item_double(), 0.0);
    kd.backward();
    EXPECT_GT(grad_abs(*r, "kd"), 0.0) << "the KD head learns";
    EXPECT_GT(grad_abs(*r, "backbone"), 0.0) << "the student backbone learns";
    EXPECT_EQ(grad_abs(*r, "teacher"), 0.0) << "the teacher moves only by EMA";
    if (std::string(dir) == "text_to_backbone")
      EXPECT_EQ(grad_abs(*r, "saaf"), 0.0) << "the text-enhanced side is the (detached) target";
    else
      EXPECT_GT(grad_abs(*r, "saaf"), 0.0) << "the text-enhanced features are pulled toward the teacher";
  }
  EXPECT_THROW(make(tiny_config("lass3d.kd_direction=sideways")), Error);
}

// teacher.momentum: auto = 1 − 10 / steps (here 20 epochs × 1 step: 0.5), so the EMA after one step is the midpoint.
TEST(Lass3dRegime, AutoMomentumFollowsTheBudget) {
  auto r = make(tiny_config("teacher.momentum=auto"), 20);
  r->set_training(true);
  LossTerms t = r->step(tiny_batch(), 0, 0);
  t.total().backward();
  const std::string w = "conv0p1s1.kernel";
  std::vector<double> t0 = param(*r, "teacher", w).detach().to(DType::f64).to_vector<double>();
  for (auto& slot : r->optimizers()) slot.optimizer->step();
  std::vector<double> s1 = param(*r, "backbone", w).detach().to(DType::f64).to_vector<double>();
  r->after_optimizer_step(1);
  std::vector<double> t1 = param(*r, "teacher", w).detach().to(DType::f64).to_vector<double>();
  int moved = 0;
  for (size_t i = 0; i < t1.size(); ++i) {
    const double ref = 0.5 * t0[i] + 0.5 * s1[i];
    ASSERT_NEAR(t1[i], ref, 1e-6 + 1e-5 * std::abs(ref)) << "element " << i;
    moved += t1[i] != t0[i];
  }
  EXPECT_GT(moved, 0);
  EXPECT_THROW(make(tiny_config("teacher.momentum=fast")), Error);
  EXPECT_THROW(make(tiny_config("teacher.momentum=1.5")), Error);
}

// Evaluation scores both networks: the evaluated one through logits(), the other in eval_metrics().
TEST(Lass3dRegime, EvaluationReportsTheOtherNetworkToo) {
  for (const char* model : {"teacher", "student"}) {
    auto r = make(tiny_config(std::string("eval.model=") + model));
    r->set_training(false);
    r->begin_eval();
    const Batch& b = tiny_batch();
    Tensor z = r->logits(b);
    EXPECT_EQ(z.size(0), b.input.size());
    nlohmann::json m = r->eval_metrics();
    const std::string other = std::string(model) == "teacher" ? "miou_student" : "miou_teacher";
    ASSERT_TRUE(m.contains(other)) << m.dump();
    EXPECT_GE(m[other].get<double>(), 0.0);
    r->begin_eval();
    EXPECT_TRUE(r->eval_metrics().empty()) << "begin_eval starts a fresh count";
    r->set_training(true);
    r->logits(b);
    EXPECT_TRUE(r->eval_metrics().empty()) << "training-mode logits are not scored";
  }
}

// eval.model routes evaluation to the named network: a classifier rigged to always answer class 7 decides the logits
// when (and only when) its network is the evaluated one.
TEST(Lass3dRegime, EvalModelRoutesToTheNamedNetwork) {
  auto rig = [](Regime& r, const std::string& module) {
    for (auto& [n, m] : r.modules())
      if (n == module)
        for (auto& [pn, p] : m->named_parameters()) {
          float* d = p.data<float>();
          for (int64_t i = 0; i < p.numel(); ++i) d[i] = 0.0f;
          if (p.ndim() == 1) d[7] = 10.0f;  // the bias
        }
  };
  auto classes = [](const Tensor& z) {
    std::set<int64_t> s;
    for (int64_t c : argmax(z, 1).to_vector<int64_t>()) s.insert(c);
    return s;
  };
  const Batch& b = tiny_batch();
  for (const char* model : {"teacher", "student"}) {
    SCOPED_TRACE(model);
    const bool teacher = std::string(model) == "teacher";
    auto r = make(tiny_config(std::string("eval.model=") + model));
    r->set_training(false);
    Tensor z0 = r->logits(b);
    rig(*r, teacher ? "classifier" : "teacher_classifier");  // the other network: no effect
    EXPECT_EQ(r->logits(b).to_vector<float>(), z0.to_vector<float>());
    EXPECT_GT(classes(z0).size(), 1u) << "untrained logits already constant: the check below would be vacuous";
    rig(*r, teacher ? "teacher_classifier" : "classifier");
    EXPECT_EQ(classes(r->logits(b)), std::set<int64_t>{7});
  }
}

// Negative controls: the pseudo-labels become random classes (shuffled) or the teacher's logits are permuted among the
// unlabelled points (permuted): the pseudo terms change, the labelled CE does not, and the mechanism statistics of the training steps reach the next evaluation record once.
TEST(Lass3dRegime, ShuffledControlAndMechanismRecord) {
  auto a = make(tiny_config("data.label_source=pseudo")), s = make(tiny_config("data.label_source=shuffled"));
  a->set_training(true);
  s->set_training(true);
  auto va = term_values(a->step(tiny_batch(), 1, 0)), vs = term_values(s->step(tiny_batch(), 1, 0));
  EXPECT_DOUBLE_EQ(va["ce"], vs["ce"]);
  EXPECT_NE(va["pseudo_ce"] + va["neg"], vs["pseudo_ce"] + vs["neg"]);
  auto p = make(tiny_config("data.label_source=permuted"));
  p->set_training(true);
  auto vp = term_values(p->step(tiny_batch(), 1, 0));
  EXPECT_DOUBLE_EQ(va["ce"], vp["ce"]);
  EXPECT_NE(va["pseudo_ce"] + va["neg"], vp["pseudo_ce"] + vp["neg"]);
  a->set_training(false);
  a->begin_eval();
  nlohmann::json m = a->eval_metrics();
  for (const char* k : {"reliable_fraction", "gt_coverage", "negative_hits_true", "pseudo_accuracy",
                        "student_accuracy_unlabelled"})
    EXPECT_TRUE(m.contains(k)) << k << " in " << m.dump();
  EXPECT_GT(m["gt_coverage"].get<double>(), 0.2) << "views pair a good share of the unlabelled points";
  EXPECT_FALSE(a->eval_metrics().contains("reliable_fraction")) << "reported once";
  EXPECT_THROW(make(tiny_config("data.label_source=gt")), Error);
}

TEST(Lass3dRegime, SwitchesRemoveTermsAndModules) {
  auto r = make(tiny_config("lass3d.saaf=false"), 2);
  auto r2 = make([] {
    Config c = tiny_config("lass3d.saaf=false");
    c.apply_overrides({"lass3d.nl=false", "lass3d.kd=false", "lass3d.tau.progressive=false"});
    return c;
  }());
  r2->set_training(true);
  auto v = term_values(r2->step(tiny_batch(), 0, 0));
  EXPECT_EQ(v.size(), 2u);
  EXPECT_TRUE(v.count("ce") && v.count("pseudo_ce"));
  std::set<std::string> mods;
  for (auto& [n, m] : r2->modules()) mods.insert(n);
  EXPECT_EQ(mods, (std::set<std::string>{"backbone", "classifier", "teacher", "teacher_classifier"}));
  std::set<std::string> mods1;
  for (auto& [n, m] : r->modules()) mods1.insert(n);
  EXPECT_TRUE(mods1.count("kd") && !mods1.count("saaf"));
}

TEST(Lass3dRegime, ThresholdScheduleDrivesTheSplit) {
  // τ: 1 -> 0 over 2 epochs of 1 batch. At the start nothing is reliable (pseudo_ce = 0, NL > 0); from the end
  // of the schedule on everything is (NL = 0, pseudo_ce > 0).
  Config c = tiny_config("lass3d.saaf=false");
  c.apply_overrides({"lass3d.kd=false", "lass3d.tau.start=1.0", "lass3d.tau.end=0.0"});
  auto r = make(c, 2);
  r->set_training(true);
  auto first = term_values(r->step(tiny_batch(), 0, 0));
  EXPECT_EQ(first["pseudo_ce"], 0.0);
  EXPECT_GT(first["neg"], 0.0);
  auto last = term_values(r->step(tiny_batch(), 2, 0));
  EXPECT_EQ(last["neg"], 0.0);
  EXPECT_GT(last["pseudo_ce"], 0.0);
}

TEST(Lass3dRegime, StateRoundTripReproducesAStep) {
  Config c = tiny_config();
  auto a = make(c);
  a->set_training(true);
  LossTerms t = a->step(tiny_batch(), 0, 0);
  t.total().backward();
  for (auto& slot : a->optimizers()) slot.optimizer->step();
  StateDict sd = a->state();
  EXPECT_TRUE(sd.count("teacher.conv0p1s1.kernel") && sd.count("saaf.gate.weight") && sd.count("kd.head.weight"));
  auto b = make(c);
  b->load(sd);
  b->set_training(true);
  auto va = term_values(a->step(tiny_batch(), 0, 1)), vb = term_values(b->step(tiny_batch(), 0, 1));
  for (auto& [k, x] : va) EXPECT_EQ(x, vb[k]) << k;
  a->set_training(false);
  b->set_training(false);
  std::vector<float> la = a->logits(tiny_batch()).to_vector<float>(), lb = b->logits(tiny_batch()).to_vector<float>();
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) ASSERT_EQ(la[i], lb[i]) << i;
}

TEST(Lass3dRegime, RampUpScalesTheUnlabelledTerms) {
  // lass3d.rampup = 0.5 of a 4-batch run: weight exp(−5 (1 − t)²) with t = position / 2 (clipped to 1); the
  // same regime without ramp-up gives the unscaled terms (same seed, same batch: identical networks).
  auto with = [](const std::string& ramp) {
    Config c = tiny_config("lass3d.saaf=false");
    c.apply_overrides({"lass3d.kd=false", "lass3d.tau.progressive=false", "lass3d.tau.start=0.5", "lass3d.rampup=" + ramp});
    auto r = make(c, 4);
    r->set_training(true);
    return r;
  };
  auto off = with("0"), on = with("0.5");
  for (int64_t epoch : {0, 1, 2, 3}) {
    auto a = term_values(off->step(tiny_batch(), epoch, 0)), b = term_values(on->step(tiny_batch(), epoch, 0));
    const double t = std::min(1.0, double(epoch) / 2.0), w = std::exp(-5.0 * (1.0 - t) * (1.0 - t));
    EXPECT_EQ(a["ce"], b["ce"]) << "the labelled term is never ramped";
    ASSERT_GT(a["pseudo_ce"] + a["neg"], 0.0);
    EXPECT_NEAR(b["pseudo_ce"], w * a["pseudo_ce"], 1e-6 * a["pseudo_ce"] + 1e-12) << "epoch " << epoch;
    EXPECT_NEAR(b["neg"], w * a["neg"], 1e-6 * a["neg"] + 1e-12) << "epoch " << epoch;
  }
  EXPECT_THROW(with("1.5"), Error);
}

TEST(Lass3dRegime, BadConfigNamesTheKey) {
  EXPECT_THROW(make(tiny_config("teacher.momentum=1.5")), Error);
  EXPECT_THROW(make(tiny_config("lass3d.kd_mode=cos")), Error);
  EXPECT_THROW(make(tiny_config("eval.model=both")), Error);
}

}  // namespace
}  // namespace leseg::train
