// SPDX-License-Identifier: Apache-2.0
// End-to-end resume: train an MLP (BatchNorm, AdamW, cosine schedule) for 3 steps, checkpoint model +
// optimizer + scheduler + RNG, restore into freshly built objects, and check that 3 more steps give
// bitwise the same parameters and buffers as an uninterrupted run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "engine/checkpoint/checkpoint.h"
#include "engine/nn/layers.h"
#include "engine/ops/reduce.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/adam.h"
#include "engine/optim/scheduler.h"

using namespace leseg;
namespace fs = std::filesystem;

namespace {
struct TrainRun {
  Generator init{1}, data{2};
  MLP model;
  AdamW opt;
  CosineWarmupLR sched;
  static MLPOptions opts() {
    MLPOptions o;
    o.norm = Norm::batch_norm;
    return o;
  }
  static ParamGroup hyper() {
    ParamGroup h;
    h.lr = 0.05;
    h.weight_decay = 0.01;
    return h;
  }
  TrainRun() : model({3, 8, 2}, init, opts()), opt(model.parameters(), hyper()), sched(opt, 2, 10, 1e-3) {}
  void step() {
    Tensor x = randn(Shape{16, 3}, data);
    opt.zero_grad();
    Tensor y = model(x);
    mean(mul(y, y)).backward();
    opt.step();
    sched.step();
  }
};
}  // namespace

TEST(Checkpoint, ResumeIsBitwiseIdentical) {
  TrainRun a;
  for (int i = 0; i < 3; ++i) a.step();
  Checkpoint ck;
  ck.model = a.model.state_dict();
  ck.optimizer = a.opt.state_dict();
  ck.step = 3;
  ck.scheduler = {{"last_step", a.sched.state()}};
  ck.rng["data"] = RngState::of(a.data);
  fs::path root = fs::temp_directory_path() / ("leseg_resume_test_" + std::to_string(::getpid()));
  fs::remove_all(root);
  save_checkpoint(root.string(), "step_3", ck);
  for (int i = 0; i < 3; ++i) a.step();

  TrainRun b;  // different state until restored
  Checkpoint r = load_checkpoint(*latest_checkpoint(root.string()));
  b.model.load_state_dict(r.model);
  b.opt.load_state_dict(r.optimizer);
  b.sched.set_state(r.scheduler["last_step"].get<int64_t>());
  r.rng.at("data").restore(b.data);
  for (int i = 0; i < 3; ++i) b.step();
  StateDict sa = a.model.state_dict(), sb = b.model.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [k, t] : sa) {
    if (t.dtype() == DType::i64) {
      EXPECT_EQ(t.item<int64_t>(), 6) << k;
      EXPECT_EQ(sb.at(k).item<int64_t>(), 6) << k;
      continue;
    }
    EXPECT_EQ(t.to_vector<float>(), sb.at(k).to_vector<float>()) << k;
  }
  EXPECT_EQ(a.opt.param_groups()[0].lr, b.opt.param_groups()[0].lr);
  fs::remove_all(root);
}
