// SPDX-License-Identifier: Apache-2.0
// train.precision in the trainer: bf16 and f16 runs of the tiny job train (finite losses that differ from the f32
// run's: the rounding is on the training path), a bad value is named, and an f16 run's loss-scaler state is saved
// in its checkpoints and restored by --resume (straight run == interrupted + resumed run, step losses bit for bit).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/checkpoint/checkpoint.h"
#include "train/job.h"
#include "train/trainer.h"
#include "train_fixture.h"

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
}  // namespace

TEST(TrainerPrecision, Bf16AndF16RunsTrainWithTheRoundingOnThePath) {
  TrainResult f32 = run_job(tiny_config(scratch("prec_f32")));
  for (const char* p : {"bf16", "f16"}) {
    Config c = tiny_config(scratch(std::string("prec_") + p));
    c.apply_override(std::string("train.precision=") + p);
    TrainResult r = run_job(c);
    ASSERT_EQ(r.step_losses.size(), f32.step_losses.size()) << p;
    int differ = 0;
    for (size_t i = 0; i < r.step_losses.size(); ++i) {
      ASSERT_TRUE(std::isfinite(r.step_losses[i])) << p << " step " << i;
      differ += r.step_losses[i] != f32.step_losses[i];
      EXPECT_NEAR(r.step_losses[i], f32.step_losses[i], 0.05 * std::abs(f32.step_losses[i]) + 1e-3) << p << " step " << i;
    }
    EXPECT_GT(differ, 0) << p << ": no step differs from f32, the precision did not reach the training path";
  }
}

TEST(TrainerPrecision, BadValueIsNamed) {
  Config c = tiny_config(scratch("prec_bad"));
  c.apply_override("train.precision=fp16");
  try {
    run_job(c);
    FAIL() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision: 'fp16'"), std::string::npos) << e.what();
  }
}

TEST(TrainerPrecision, F16LossScalerStateIsCheckpointedAndResumed) {
  const std::string a = scratch("prec_f16_a"), b = scratch("prec_f16_b");
  Config ca = tiny_config(a);
  ca.apply_override("train.precision=f16");
  ca.apply_override("train.loss_scale_growth_interval=2");  // the scale changes inside the run
  TrainResult full = run_job(ca);
  Checkpoint ck = load_checkpoint(full.last_checkpoint);
  ASSERT_TRUE(ck.optimizer.count("loss_scaler.scale"));
  // 8 clean steps with growth every 2: 2^16 -> 2^20 unless steps were skipped (each skip halves it)
  const double scale = ck.optimizer.at("loss_scaler.scale").item_double();
  const double skipped = ck.optimizer.at("loss_scaler.skipped").item_double();
  EXPECT_GT(scale, 65536.0 * std::pow(0.5, skipped)) << "skipped " << skipped;
  Config first = tiny_config(b);
  first.apply_override("train.precision=f16");
  first.apply_override("train.loss_scale_growth_interval=2");
  first.apply_override("train.max_steps=3");
  TrainResult part1 = run_job(first);
  Config second = tiny_config(b);
  second.apply_override("train.precision=f16");
  second.apply_override("train.loss_scale_growth_interval=2");
  TrainResult part2 = run_job(second, b);
  ASSERT_EQ(part1.step_losses.size() + part2.step_losses.size(), full.step_losses.size());
  for (size_t i = 0; i < part2.step_losses.size(); ++i)
    EXPECT_EQ(part2.step_losses[i], full.step_losses[part1.step_losses.size() + i]) << "step " << i + 4;
  Checkpoint cb = load_checkpoint(part2.last_checkpoint);
  EXPECT_EQ(cb.optimizer.at("loss_scaler.scale").item_double(), scale);
  EXPECT_EQ(cb.optimizer.at("loss_scaler.streak").item_double(), ck.optimizer.at("loss_scaler.streak").item_double());
}
