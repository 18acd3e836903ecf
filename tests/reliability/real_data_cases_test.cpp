// SPDX-License-Identifier: Apache-2.0
// Issue 21, one test per case of "Nothing lost on real data": each damaged-data case either works or fails
// fast naming the scene, the file and the field/index, and no trained weights are lost.
//   - a bad validation scene (NaN coordinate, empty scene, label 255) fails before training starts;
//   - an evaluation failure after training keeps the trained weights (checkpoint written before it);
//   - a checkpoint is written at every epoch's end by default;
//   - an out-of-range training label is named by the data check, and inside a batch the error carries the
//     batch's scenes (CE kernel) — the same for the evaluation's confusion matrix;
//   - `inspect` names the scenes with bad labels, non-finite coordinates and no points;
//   - all-ignore labels fail fast for a supervised run; a coordinate of 1e30 is out of the voxel range;
//   - a non-finite loss stops the run naming the step, the term and the last good checkpoint;
//   - `leseg eval` accepts the training config whose schedule keys do not fit the evaluation's recomputed one;
//   - `leseg data check` exists (exit 0 / 1, problems named) and is report-only.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/checkpoint/checkpoint.h"
#include "engine/error.h"
#include "io/check.h"
#include "io/convert.h"
#include "io/datasets/scene_io.h"
#include "io/formats/image.h"
#include "io/formats/npy.h"
#include "tests/train/train_fixture.h"
#include "train/cli.h"
#include "train/job.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace leseg;
using leseg::train::testing::cli;
using leseg::train::testing::CliRun;
using leseg::train::testing::scratch;
using leseg::train::testing::tiny_config;
using leseg::train::testing::tiny_dataset;

namespace {

// A private copy of the tiny synthetic dataset (4 train + 2 val rooms) to damage.
std::string copy_tiny(const std::string& name) {
  const std::string dir = scratch(name);
  const std::string root = dir + "/data";
  fs::create_directories(dir);
  fs::copy(tiny_dataset(), root, fs::copy_options::recursive);
  return root;
}

std::string scene_of(const std::string& root, const std::string& split, size_t k = 0) {
  return io::read_split(root, split).at(k);
}

std::string scene_file(const std::string& root, const std::string& scene, const std::string& file) {
  return (fs::path(root) / "scenes" / scene / file).string();
}

void set_coord(const std::string& root, const std::string& scene, int64_t point, float value) {
  const std::string p = scene_file(root, scene, "coord.npy");
  Tensor c = io::read_npy(p);
  c.data<float>()[3 * point + 1] = value;
  io::write_npy(p, c);
}

void set_label(const std::string& root, const std::string& scene, int64_t point, int32_t value) {
  const std::string p = scene_file(root, scene, "segment.npy");
  Tensor l = io::read_npy(p);
  l.data<int32_t>()[point] = value;
  io::write_npy(p, l);
}

void make_empty(const std::string& root, const std::string& scene) {
  const fs::path d = fs::path(root) / "scenes" / scene;
  for (auto& e : fs::directory_iterator(d)) {
    if (e.path().extension() != ".npy") continue;
    Tensor t = io::read_npy(e.path().string());
    std::vector<int64_t> dims;
    for (int i = 0; i < t.ndim(); ++i) dims.push_back(i == 0 ? 0 : t.size(i));
    io::write_npy(e.path().string(), Tensor::empty(t.ndim() == 1 ? Shape{0} : Shape{0, dims[1]}, t.dtype()));
  }
}

// Runs f, expects a leseg::Error whose message holds every part; returns the message.
std::string expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const std::exception& e) {
    const std::string m = e.what();
    for (auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "'" << p << "' not in: " << m;
    return m;
  }
  ADD_FAILURE() << "no error raised";
  return "";
}

train::Config config_for(const std::string& root, const std::string& out, std::vector<std::string> extra = {}) {
  train::Config c = tiny_config(out);
  extra.insert(extra.begin(), "data.root=" + root);
  c.apply_overrides(extra);
  return c;
}

train::TrainResult train_run(train::Config& cfg) {
  train::Job job = train::build_job(cfg, train::JobKind::Train);
  job.trainer.verbose = false;
  train::Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  return t.run();
}


}  // namespace

TEST(RealDataCases, BadValidationSceneFailsBeforeTraining) {
  struct Case {
    const char* what;
    std::function<void(const std::string&, const std::string&)> damage;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"nan", [](const std::string& r, const std::string& s) { set_coord(r, s, 17, std::nanf("")); },
       {"coord.npy", "[coord]", "index 17", "non-finite"}},
      {"empty", [](const std::string& r, const std::string& s) { make_empty(r, s); }, {"coord.npy", "empty scene"}},
      {"label255", [](const std::string& r, const std::string& s) { set_label(r, s, 80, 255); },
       {"segment.npy", "[label]", "index 80", "255"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string root = copy_tiny(std::string("badval_") + c.what);
    const std::string scene = scene_of(root, "val", 1);
    c.damage(root, scene);
    const std::string out = fs::path(root).parent_path().string() + "/run";
    train::Config cfg = config_for(root, out);
    std::vector<std::string> parts = c.parts;
    parts.push_back("scene '" + scene + "'");
    parts.push_back("before training");
    expect_error([&] { train_run(cfg); }, parts);
    EXPECT_FALSE(fs::exists(fs::path(out) / "checkpoints")) << "nothing may have been trained";
  }
}

TEST(RealDataCases, EvaluationFailureKeepsTheTrainedWeights) {
  const std::string root = copy_tiny("evalfail");
  const std::string scene = scene_of(root, "val", 0);
  set_label(root, scene, 5, 255);
  const std::string out = fs::path(root).parent_path().string() + "/run";
  // data.check=false lets the damaged scene through to the evaluation (the check would stop it up front)
  train::Config cfg = config_for(root, out, {"data.check=false", "train.epochs=1", "train.eval_every=0"});
  const std::string m = expect_error([&] { train_run(cfg); },
                                     {"evaluation after epoch 1 failed", "ground-truth label 255", scene,
                                      "trained weights are safe in"});
  std::optional<std::string> ck = latest_checkpoint(out + "/checkpoints");
  ASSERT_TRUE(ck.has_value());
  EXPECT_NE(m.find(*ck), std::string::npos) << m;
  Checkpoint loaded = load_checkpoint(*ck);
  EXPECT_EQ(loaded.step, 4);  // 4 training scenes, batch 1: the whole epoch is in it
  EXPECT_FALSE(loaded.model.empty());
}

TEST(RealDataCases, CheckpointAtEveryEpochByDefault) {
  const std::string root = copy_tiny("per_epoch");
  const std::string out = fs::path(root).parent_path().string() + "/run";
  train::Config cfg = config_for(root, out, {"train.epochs=3", "train.keep_checkpoints=5"});  // ckpt_every: 0
  train::TrainResult r = train_run(cfg);
  EXPECT_EQ(r.steps, 12);
  std::vector<std::string> dirs;
  for (auto& e : fs::directory_iterator(out + "/checkpoints"))
    if (e.is_directory()) dirs.push_back(e.path().filename().string());
  std::sort(dirs.begin(), dirs.end());
  EXPECT_EQ(dirs, (std::vector<std::string>{"step_00000004", "step_00000008", "step_00000012"}));
  // the epoch-end checkpoint resumes into that epoch's end (its evaluation and epoch schedulers replay)
  Checkpoint c = load_checkpoint(out + "/checkpoints/step_00000004");
  EXPECT_EQ(c.epoch, 0);
  EXPECT_EQ(c.extra.value("batch_in_epoch", int64_t(-1)), 4);
  // what a kill inside a write leaves behind is removed when a run starts in the folder
  fs::create_directories(out + "/checkpoints/step_00000013.tmp-AbC123");
  std::ofstream(out + "/checkpoints/latest.tmp-4242") << "step_00000013\n";
  train::Config again = config_for(root, out, {"train.epochs=3", "train.keep_checkpoints=5"});
  train::Job job = train::build_job(again, train::JobKind::Train);
  job.trainer.verbose = false;
  job.trainer.resume = out;
  train::Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  EXPECT_EQ(t.run().steps, 12);
  EXPECT_FALSE(fs::exists(out + "/checkpoints/step_00000013.tmp-AbC123"));
  EXPECT_FALSE(fs::exists(out + "/checkpoints/latest.tmp-4242"));
  EXPECT_EQ(latest_checkpoint(out + "/checkpoints").value_or(""), out + "/checkpoints/step_00000012");
}

TEST(RealDataCases, OutOfRangeTrainingLabelIsNamed) {
  const std::string root = copy_tiny("trainlabel");
  const std::string scene = scene_of(root, "train", 2);
  set_label(root, scene, 33, 255);
  const std::string out = fs::path(root).parent_path().string() + "/run";
  {
    train::Config cfg = config_for(root, out);
    expect_error([&] { train_run(cfg); }, {"scene '" + scene + "'", "segment.npy", "index 33", "255"});
  }
  // Without the up-front check the kernel's error (a batch row) carries the batch's scene names.
  train::Config cfg = config_for(root, out, {"data.check=false", "data.augment=false"});
  expect_error([&] { train_run(cfg); }, {"label 255", "scenes " + scene, "step "});
}

TEST(RealDataCases, ConfusionMatrixErrorNamesTheScenes) {
  const std::string root = copy_tiny("cmerror");
  const std::string scene = scene_of(root, "val", 1);
  set_label(root, scene, 3, 99);
  const std::string out = fs::path(root).parent_path().string() + "/run";
  train::Config cfg = config_for(root, out, {"data.check=false"});
  train::Job job = train::build_job(cfg, train::JobKind::Eval);
  expect_error([&] { train::evaluate(*job.regime, *job.val, job.trainer.num_classes, job.trainer.ignore_index, false); },
               {"ground-truth label 99", "evaluation batch", scene});
}

TEST(RealDataCases, InspectAndCheckNameTheScenes) {
  const std::string root = copy_tiny("inspect");
  const std::string bad_label = scene_of(root, "train", 0), nan_scene = scene_of(root, "train", 1),
                    empty = scene_of(root, "val", 0), huge = scene_of(root, "train", 3);
  set_label(root, bad_label, 7, 42);
  set_coord(root, nan_scene, 9, std::numeric_limits<float>::infinity());
  make_empty(root, empty);
  set_coord(root, huge, 11, 1e30f);  // finite, but beyond any voxel grid
  io::InspectReport r = io::inspect(root);
  std::string all;
  for (auto& m : r.missing) all += m + "\n";
  for (const std::string& s : {bad_label, nan_scene, empty, huge}) EXPECT_NE(all.find("scene '" + s + "'"), std::string::npos) << all;
  EXPECT_NE(all.find("empty scene"), std::string::npos) << all;
  EXPECT_NE(all.find("index 9"), std::string::npos) << all;
  EXPECT_NE(all.find("index 11"), std::string::npos) << all;
  EXPECT_NE(all.find("2^20"), std::string::npos) << all;

  io::CheckReport c = io::check_dataset(root);
  EXPECT_EQ(c.errors.size(), 4u) << c.str();
  io::CheckOptions one;
  one.threads = 1;
  EXPECT_EQ(io::check_dataset(root, one).str(), c.str());  // same report whatever the thread count
  // the CLI: exit 1, every problem printed; report only (no file changes)
  const auto before = fs::last_write_time(scene_file(root, bad_label, "segment.npy"));
  CliRun run = cli({"data", "check", root});
  EXPECT_EQ(run.rc, 1);
  EXPECT_NE(run.out.find("scene '" + huge + "'"), std::string::npos) << run.out;
  EXPECT_EQ(before, fs::last_write_time(scene_file(root, bad_label, "segment.npy")));
  CliRun ok = cli({"data", "check", tiny_dataset()});
  EXPECT_EQ(ok.rc, 0) << ok.out;
  EXPECT_NE(ok.out.find("0 error(s)"), std::string::npos) << ok.out;
}

TEST(RealDataCases, AllIgnoreLabelsFailFastForSupervisedRuns) {
  const std::string root = copy_tiny("allignore");
  auto ignore_all = [&](const char* split) {
    for (auto& s : io::read_split(root, split)) {
      const std::string p = scene_file(root, s, "segment.npy");
      Tensor l = io::read_npy(p);
      for (int64_t i = 0; i < l.numel(); ++i) l.data<int32_t>()[i] = -1;
      io::write_npy(p, l);
    }
  };
  const std::string out = fs::path(root).parent_path().string() + "/run";
  ignore_all("val");
  {
    train::Config cfg = config_for(root, out, {"train.eval_every=0"});
    expect_error([&] { train_run(cfg); }, {"validation split 'val'", "carries a label", "score no class"});
  }
  ignore_all("train");
  train::Config cfg = config_for(root, out, {"train.eval_every=-1"});
  expect_error([&] { train_run(cfg); }, {"training split 'train'", "regime 'supervised' would learn nothing"});
  io::CheckReport c = io::check_dataset(root);
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.warnings.size(), 2u) << c.str();  // one per split
  EXPECT_FALSE(fs::exists(fs::path(out) / "checkpoints"));
}

TEST(RealDataCases, NonFiniteLossNamesStepTermAndLastCheckpoint) {
  const std::string root = copy_tiny("nanloss");
  const std::string out = fs::path(root).parent_path().string() + "/run";
  train::Config cfg = config_for(root, out, {"optim.lr=1e30", "optim.momentum=0", "train.ckpt_every=1"});
  const std::string m = expect_error([&] { train_run(cfg); }, {"non-finite", "step ", "scenes ", "last good checkpoint"});
  EXPECT_TRUE(m.find("loss term 'ce'") != std::string::npos || m.find("gradient in parameter") != std::string::npos) << m;
  std::optional<std::string> ck = latest_checkpoint(out + "/checkpoints");
  ASSERT_TRUE(ck.has_value());
  EXPECT_NE(m.find(*ck), std::string::npos) << m;
  Checkpoint c = load_checkpoint(*ck);
  for (auto& [k, t] : c.model) {
    if (t.dtype() != DType::f32) continue;
    for (float v : t.to_vector<float>()) ASSERT_TRUE(std::isfinite(v)) << k;  // the last good weights
  }
}

TEST(RealDataCases, EvalAcceptsItsTrainingConfig) {
  const std::string root = copy_tiny("evalsched");
  const std::string out = fs::path(root).parent_path().string() + "/run";
  // 4 scenes, batch 1, 2 epochs = 8 scheduler steps: warmup 5 is valid for training
  train::Config cfg = config_for(root, out, {"optim.sched.warmup=5", "train.eval_every=-1"});
  train_run(cfg);
  // the evaluation recomputes the schedule from its own view of the splits (here 1 training scene: 2 steps)
  train::Config ev = config_for(root, out, {"optim.sched.warmup=5", "data.max_train_scenes=1"});
  train::Job job = train::build_job(ev, train::JobKind::Eval);
  EXPECT_NO_THROW(train::load_weights(job, out));
  // training still validates the key against its own schedule
  train::Config tr = config_for(root, out + "2", {"optim.sched.warmup=5", "data.max_train_scenes=1"});
  expect_error([&] { train::build_job(tr, train::JobKind::Train); }, {"optim.sched.warmup", "must be in [0, 2)"});
}

TEST(RealDataCases, ViewsFilesAreChecked) {
  const std::string src = leseg::train::testing::tiny_views_dataset("check_views", 11);
  const std::string root = scratch("check_views_copy") + "/data";
  fs::create_directories(fs::path(root).parent_path());
  fs::copy(src, root, fs::copy_options::recursive);
  const std::string scene = scene_of(root, "train", 0);
  const fs::path v0 = fs::path(root) / "scenes" / scene / "views" / "0";
  ASSERT_TRUE(fs::exists(v0 / "pose.txt"));
  fs::remove(v0 / "pose.txt");
  std::ofstream(v0 / "intrinsic.txt") << "500 0 nan\n0 500 24\n0 0 1\n";
  io::write_png_u16((v0 / "depth.png").string(), Tensor::zeros(Shape{10, 10}, DType::i32));
  io::CheckReport c = io::check_dataset(root);
  const std::string s = c.str();
  EXPECT_NE(s.find("scene '" + scene + "' " + (v0 / "pose.txt").string()), std::string::npos) << s;
  EXPECT_NE(s.find("missing pose.txt"), std::string::npos) << s;
  EXPECT_NE(s.find((v0 / "intrinsic.txt").string() + " [matrix] index 0: 1 non-finite"), std::string::npos) << s;
  EXPECT_NE(s.find("depth.png [size]"), std::string::npos) << s;
  EXPECT_NE(s.find("10x10 (HxW), but color.png is 48x64"), std::string::npos) << s;
  io::CheckOptions no_views;
  no_views.views = false;
  EXPECT_TRUE(io::check_dataset(root, no_views).ok());
}
