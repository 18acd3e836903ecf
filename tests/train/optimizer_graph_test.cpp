// SPDX-License-Identifier: Apache-2.0
// train.cuda_graph on the CPU: refused with a clear error before any step, and the host-sync guard of the captured
// region (require_sync_free) refuses a region that reads the device (a CPU read stands for a device read: the
// accounting of engine/host_sync.h) and accepts one that does not.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/ops/elementwise.h"
#include "train/job.h"
#include "train/optimizer_graph.h"
#include "train/trainer.h"
#include "train_fixture.h"

using namespace leseg;
using namespace leseg::train;

TEST(OptimizerGraph, RefusedOnACpuDevice) {
  Config cfg = leseg::train::testing::tiny_config(leseg::train::testing::scratch("cuda_graph_cpu"));
  cfg.apply_override("train.cuda_graph=true");
  Job job = build_job(cfg, JobKind::Train);
  job.trainer.verbose = false;
  ASSERT_TRUE(job.trainer.cuda_graph);
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  try {
    t.run();
    FAIL() << "train.cuda_graph on the CPU must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("train.cuda_graph: needs a CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_optimizer_graph_supported(job.regime->optimizers(), Device::cpu(), Precision::f32), std::exception);
}

TEST(OptimizerGraph, RegionThatReadsTheDeviceIsRefused) {
  Tensor x = Tensor::from_vector<float>({1.f, 2.f, 3.f}, Shape{3});
  try {
    require_sync_free("test region", [&] { (void)mul(x, x).to_vector<float>(); });
    FAIL() << "a read inside the region must be refused";
  } catch (const std::exception& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("test region"), std::string::npos) << m;
    EXPECT_NE(m.find("cannot hold"), std::string::npos) << m;
  }
  Tensor y;
  EXPECT_NO_THROW(require_sync_free("test region", [&] { y = mul(x, x); }));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1.f, 4.f, 9.f}));
}

// The graph's bookkeeping without a GPU (host emulation: the same static gradient buffers, hyper-parameters read
// from memory by the _hp twins, clip over the slots' params in order, state steps) against eager steps, bit for bit,
// over 6 steps with the lr changing every step and clipping active; SGD (momentum, nesterov, weight decay), Adam
// with amsgrad, and AdamW in two slots of one graph.
#include "engine/optim/adam.h"
#include "engine/optim/clip_grad.h"
#include "engine/optim/sgd.h"

namespace {
std::vector<OptimizerSlot> emu_slots() {
  std::vector<OptimizerSlot> slots(2);
  int k = 0;
  for (int s = 0; s < 2; ++s) {
    std::vector<Tensor> ps;
    for (int64_t n : {700, 70001, 9}) ps.push_back(Tensor::randn(Shape{n}, 21, uint64_t(k++)).requires_grad_());
    ParamGroup h;
    h.lr = 0.03;
    h.weight_decay = 1e-3;
    h.momentum = 0.9;
    h.nesterov = s == 0;
    h.amsgrad = true;
    slots[size_t(s)].name = s == 0 ? "a" : "b";
    slots[size_t(s)].params = ps;
    if (s == 0) slots[0].optimizer = std::make_unique<SGD>(ps, h);
    else slots[1].optimizer = std::make_unique<Adam>(ps, h);
  }
  return slots;
}
}  // namespace

TEST(OptimizerGraph, HostEmulationEqualsEagerBitForBit) {
  for (bool adamw : {false, true}) {
    auto eager = emu_slots(), emu = emu_slots();
    if (adamw) {  // slot b as AdamW instead
      for (auto* s : {&eager, &emu}) {
        ParamGroup h = (*s)[1].optimizer->param_groups()[0];
        h.weight_decay = 1e-2;
        std::vector<Tensor> ps = h.params;
        h.params.clear();
        (*s)[1].optimizer = std::make_unique<AdamW>(ps, h);
      }
    }
    EXPECT_THROW(OptimizerGraph(emu, 1.0, Device::cpu(), Precision::f32), std::exception);  // no emulation: refused
    OptimizerGraph graph(emu, /*clip=*/30.0, Device::cpu(), Precision::f32, /*host_emulation=*/true);
    for (int step = 0; step < 6; ++step) {
      int k = 0;
      for (auto* s : {&eager, &emu})
        for (auto& slot : *s)
          for (auto& p : slot.params) p.set_grad(Tensor::randn(p.shape(), 500 + uint64_t(step), uint64_t(k++ % 6)));
      std::vector<Tensor> all;
      for (auto& slot : eager) all.insert(all.end(), slot.params.begin(), slot.params.end());
      const double ne = clip_grad_norm_(all, 30.0);
      for (auto& slot : eager) slot.optimizer->step();
      const double ng = graph.step().item<double>();
      EXPECT_EQ(std::memcmp(&ne, &ng, sizeof ne), 0) << "norm, step " << step << ": " << ne << " vs " << ng;
      for (auto* s : {&eager, &emu})
        for (auto& slot : *s) {
          slot.optimizer->param_groups()[0].lr *= 0.8;
          slot.optimizer->zero_grad();
        }
    }
    EXPECT_TRUE(graph.captured());
    EXPECT_EQ(graph.replays(), 5);
    for (size_t s = 0; s < 2; ++s) {
      for (size_t k = 0; k < eager[s].params.size(); ++k) {
        const Tensor& a = eager[s].params[k];
        const Tensor& b = emu[s].params[k];
        EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()), 0) << "slot " << s << " param " << k;
      }
      const StateDict x = eager[s].optimizer->state_dict(), y = emu[s].optimizer->state_dict();
      ASSERT_EQ(x.size(), y.size());
      for (auto& [key, t] : x) {
        ASSERT_TRUE(y.count(key)) << key;
        ASSERT_EQ(t.nbytes(), y.at(key).nbytes()) << key;
        EXPECT_EQ(std::memcmp(t.data_ptr(), y.at(key).data_ptr(), t.nbytes()), 0) << "adamw " << adamw << " " << key;
      }
    }
  }
}

// A parameter that has no gradient at a replay is refused (eager would skip it; the graph updates every parameter).
TEST(OptimizerGraph, MissingGradientIsRefused) {
  auto slots = emu_slots();
  OptimizerGraph graph(slots, 0.0, Device::cpu(), Precision::f32, /*host_emulation=*/true);
  for (int step = 0; step < 3; ++step) {
    for (auto& slot : slots)
      for (auto& p : slot.params) p.set_grad(Tensor::ones(p.shape()));
    if (step == 2) slots[1].params[2].zero_grad();
    if (step < 2) {
      EXPECT_FALSE(graph.step().defined());  // no clipping: no norm
    } else {
      try {
        graph.step();
        FAIL() << "a missing gradient must be refused";
      } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("has no f32 gradient"), std::string::npos) << e.what();
      }
    }
    for (auto& slot : slots) slot.optimizer->zero_grad();
  }
}
