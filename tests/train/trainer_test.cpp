// SPDX-License-Identifier: Apache-2.0
// Trainer: resume equivalence (bitwise on CPU), SIGINT checkpoint + resume, gradient accumulation, metrics
// lines, checkpoint pruning; evaluation mapping voxel predictions to points.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "engine/checkpoint/checkpoint.h"
#include "train/evaluate.h"
#include "train/job.h"
#include "train/progress.h"
#include "train/trainer.h"
#include "train_fixture.h"

namespace fs = std::filesystem;
using namespace leseg;
using namespace leseg::train;
using leseg::train::testing::scratch;
using leseg::train::testing::tiny_config;

namespace {

TrainResult run_job(Config cfg, const std::string& resume = "") {
  Job job = build_job(cfg, JobKind::Train);
  job.trainer.resume = resume;
  job.trainer.verbose = false;
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  return t.run();
}

// Every tensor of two checkpoints' model and optimizer state, bit for bit.
void expect_same_checkpoint(const std::string& a, const std::string& b) {
  Checkpoint ca = load_checkpoint(a), cb = load_checkpoint(b);
  EXPECT_EQ(ca.step, cb.step);
  EXPECT_EQ(ca.scheduler, cb.scheduler);
  for (auto* pair : {&ca.model, &ca.optimizer}) {
    const StateDict& sa = *pair;
    const StateDict& sb = pair == &ca.model ? cb.model : cb.optimizer;
    ASSERT_EQ(sa.size(), sb.size());
    ASSERT_GT(sa.size(), 10u);
    int checked = 0;
    for (auto& [k, v] : sa) {
      auto it = sb.find(k);
      ASSERT_NE(it, sb.end()) << k;
      ASSERT_EQ(v.nbytes(), it->second.nbytes()) << k;
      EXPECT_EQ(std::memcmp(v.data_ptr(), it->second.data_ptr(), v.nbytes()), 0) << "tensor differs: " << k;
      ++checked;
    }
    EXPECT_EQ(checked, int(sa.size()));
  }
  for (auto& [name, st] : ca.rng) {
    ASSERT_TRUE(cb.rng.count(name)) << name;
    EXPECT_EQ(st.offset, cb.rng[name].offset) << name;
  }
}

}  // namespace

// 2k steps straight vs k steps + resume + k steps: identical per-step losses and final weights/optimizer state.
// Covers a stop in the middle of an epoch (k = 3 of 4 steps per epoch) with shuffling and augmentation on.
TEST(Trainer, ResumeIsBitIdenticalMidEpoch) {
  const std::string a = scratch("resume_a"), b = scratch("resume_b");
  TrainResult full = run_job(tiny_config(a));
  ASSERT_EQ(full.steps, 8);  // 4 scenes, batch 1, 2 epochs
  ASSERT_EQ(full.step_losses.size(), 8u);
  Config first = tiny_config(b);
  first.apply_override("train.max_steps=3");
  TrainResult part1 = run_job(first);
  ASSERT_EQ(part1.steps, 3);
  EXPECT_FALSE(part1.finished);
  TrainResult part2 = run_job(tiny_config(b), b);
  ASSERT_EQ(part2.steps, 8);
  ASSERT_EQ(part2.step_losses.size(), 5u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(part1.step_losses[i], full.step_losses[i]) << "step " << i + 1;
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(part2.step_losses[i], full.step_losses[3 + i]) << "step " << i + 4;
  EXPECT_NE(full.step_losses[0], full.step_losses[7]);
  expect_same_checkpoint(full.last_checkpoint, part2.last_checkpoint);
}

// Stop exactly at an epoch boundary, with gradient accumulation and an epoch-unit scheduler (it must still
// step once for the interrupted epoch after the resume).
TEST(Trainer, ResumeAtEpochEndWithAccumulationAndEpochScheduler) {
  const std::string a = scratch("resume_c"), b = scratch("resume_d");
  auto cfg = [](const std::string& out) {
    Config c = tiny_config(out);
    c.apply_overrides({"train.accumulate=2", "train.epochs=2", "optim.sched.name=step", "optim.sched.unit=epoch",
                       "optim.sched.step_size=1", "optim.sched.gamma=0.5"});
    return c;
  };
  TrainResult full = run_job(cfg(a));
  ASSERT_EQ(full.steps, 4);  // 4 batches / 2 per step, 2 epochs
  Config first = cfg(b);
  first.apply_override("train.max_steps=2");
  TrainResult part1 = run_job(first);
  ASSERT_EQ(part1.steps, 2);
  TrainResult part2 = run_job(cfg(b), b);
  ASSERT_EQ(part2.step_losses.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(part2.step_losses[i], full.step_losses[2 + i]) << "step " << i + 3;
  expect_same_checkpoint(full.last_checkpoint, part2.last_checkpoint);
  Checkpoint ck = load_checkpoint(full.last_checkpoint);
  EXPECT_EQ(ck.scheduler["model"].get<int64_t>(), 2);  // one step per epoch, including the interrupted one
}

TEST(Trainer, SignalSavesCheckpointAndResumeFinishes) {
  const std::string a = scratch("signal_a");
  clear_stop_request();
  request_stop_for_testing(SIGTERM);
  TrainResult r = run_job(tiny_config(a));
  clear_stop_request();
  EXPECT_TRUE(r.stopped_by_signal);
  EXPECT_EQ(r.steps, 1);  // stops after the first optimizer step
  ASSERT_FALSE(r.last_checkpoint.empty());
  EXPECT_TRUE(fs::exists(fs::path(r.last_checkpoint) / "meta.json"));
  TrainResult rest = run_job(tiny_config(a), a);
  EXPECT_EQ(rest.steps, 8);
  EXPECT_TRUE(rest.finished);
}

TEST(Trainer, MetricsLinesAndCheckpointPruning) {
  const std::string a = scratch("metrics_a");
  Config c = tiny_config(a);
  c.apply_overrides({"train.ckpt_every=1", "train.keep_checkpoints=2", "train.eval_every=1", "train.epochs=1"});
  TrainResult r = run_job(c);
  ASSERT_EQ(r.steps, 4);
  int train_lines = 0, eval_lines = 0, end_lines = 0;
  std::ifstream in(fs::path(a) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    const std::string t = j["type"];
    if (t == "train") {
      ++train_lines;
      EXPECT_TRUE(j.contains("loss") && j.contains("lr") && j["terms"].contains("ce")) << line;
    }
    if (t == "eval") {
      ++eval_lines;
      EXPECT_TRUE(j.contains("miou")) << line;
    }
    end_lines += t == "end";
  }
  EXPECT_EQ(train_lines, 4);
  EXPECT_EQ(eval_lines, 1);
  EXPECT_EQ(end_lines, 1);
  int dirs = 0;
  for (auto& e : fs::directory_iterator(fs::path(a) / "checkpoints")) dirs += e.is_directory();
  EXPECT_EQ(dirs, 2);
  EXPECT_TRUE(latest_checkpoint((fs::path(a) / "checkpoints").string()).has_value());
  EXPECT_GE(r.last_miou, 0.0);
}

TEST(Evaluate, VoxelPredictionsMapThroughInverse) {
  Batch b;
  b.point_offsets = {0, 5};
  b.scene_names = {"s"};
  b.inverse = Tensor::from_vector<int32_t>({2, 0, 1, 2, 0}, Shape{5});
  Tensor coords = Tensor::from_vector<int32_t>({0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0}, Shape{3, 4});
  b.input = SparseTensor(coords, Tensor::zeros(Shape{3, 1}));
  // voxel 0 -> class 1, voxel 1 -> class 0, voxel 2 -> class 2
  Tensor z = Tensor::from_vector<float>({0, 5, 1, 3, 0, 0, 0, 1, 9}, Shape{3, 3});
  std::vector<int32_t> p = point_predictions(z, b).to_vector<int32_t>();
  EXPECT_EQ(p, (std::vector<int32_t>{2, 1, 0, 2, 1}));
  // Per-point logits are used as they are.
  Tensor zp = Tensor::from_vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0}, Shape{5, 3});
  EXPECT_EQ(point_predictions(zp, b).to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2, 0, 1}));
  EXPECT_THROW(point_predictions(Tensor::zeros(Shape{4, 3}), b), leseg::Error);
}
