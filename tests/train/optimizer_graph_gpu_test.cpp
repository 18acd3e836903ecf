// SPDX-License-Identifier: Apache-2.0
// train.cuda_graph: the replayed optimizer phase equals the eager one bit for bit over several steps (parameters,
// optimizer state, clip norms), with the learning rate changing every step (the hyper-parameters the graph reads
// from device memory), for SGD with momentum + weight decay and for AdamW; one parameter spans several norm chunks.
// The Trainer with train.cuda_graph=true equals the eager Trainer bit for bit (deterministic mode, so that the
// forward and backward repeat too). And the graph-replayable kernels (kernels/optim_graph) against their CPU twins.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "engine/allocator.h"
#include "engine/determinism.h"
#include "engine/optim/adam.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/optim/clip_grad.h"
#include "engine/optim/sgd.h"
#include "kernels/optim_graph/optim_graph.h"
#include "train/job.h"
#include "train/optimizer_graph.h"
#include "train/trainer.h"
#include "train_fixture.h"

using namespace leseg;
using namespace leseg::train;

namespace {

enum class Opt { Sgd, AdamW };

std::vector<OptimizerSlot> make_slots(Opt o) {
  std::vector<Tensor> ps;
  int k = 0;
  for (int64_t n : {1000, 70003, 13})
    ps.push_back(Tensor::randn(Shape{n}, 11, uint64_t(k++)).to(Device::cuda()).requires_grad_());
  ParamGroup h;
  h.lr = 0.05;
  h.weight_decay = 1e-2;
  h.momentum = 0.9;
  std::vector<OptimizerSlot> slots(1);
  slots[0].name = "model";
  slots[0].params = ps;
  if (o == Opt::Sgd) slots[0].optimizer = std::make_unique<SGD>(ps, h);
  else slots[0].optimizer = std::make_unique<AdamW>(ps, h);
  return slots;
}

void set_grads(std::vector<OptimizerSlot>& slots, int step) {
  int k = 0;
  for (auto& p : slots[0].params) {
    Tensor g = Tensor::randn(p.shape(), 100 + uint64_t(step), uint64_t(k++)).to(Device::cuda());
    p.set_grad(g);
  }
}

void expect_same(const Tensor& a, const Tensor& b, const std::string& what) {
  const std::vector<float> x = a.detach().to_vector<float>(), y = b.detach().to_vector<float>();
  ASSERT_EQ(x.size(), y.size()) << what;
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0) << what;
}

void run(Opt o) {
  const double clip = 20.0;  // below the random gradients' norm: the scale is applied
  auto eager = make_slots(o), graphed = make_slots(o);
  OptimizerGraph graph(graphed, clip, Device::cuda(), Precision::f32);
  for (int step = 0; step < 6; ++step) {
    set_grads(eager, step);
    set_grads(graphed, step);
    const double ne = clip_grad_norm_(eager[0].params, clip);
    eager[0].optimizer->step();
    const double ng = graph.step().item<double>();
    EXPECT_EQ(std::memcmp(&ne, &ng, sizeof ne), 0) << "norm, step " << step;
    for (auto* s : {&eager, &graphed}) {
      (*s)[0].optimizer->param_groups()[0].lr *= 0.7;  // a schedule: the replay must see each step's lr
      (*s)[0].optimizer->zero_grad();
    }
    for (size_t k = 0; k < eager[0].params.size(); ++k)
      expect_same(eager[0].params[k], graphed[0].params[k], "param " + std::to_string(k) + " step " + std::to_string(step));
  }
  EXPECT_TRUE(graph.captured());
  EXPECT_EQ(graph.replays(), 5);  // step 0 eager, step 1 captured and replayed, then replays
  const StateDict a = eager[0].optimizer->state_dict(), b = graphed[0].optimizer->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (auto& [key, t] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    if (t.dtype() == DType::f32) expect_same(t, b.at(key), key);
    else EXPECT_EQ(t.item_double(), b.at(key).item_double()) << key;
  }
}

}  // namespace

TEST(OptimizerGraphGpu, SgdReplayEqualsEagerBitForBit) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  run(Opt::Sgd);
}

TEST(OptimizerGraphGpu, AdamWReplayEqualsEagerBitForBit) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  run(Opt::AdamW);
}

#if LESEG_WITH_CUDA  // the kernel-level CUDA entry points exist only in a CUDA build
TEST(OptimizerGraphGpu, HyperParameterKernelsMatchTheirCpuTwins) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  const int64_t n = 5001;
  std::vector<float> p = Tensor::randn(Shape{n}, 1).to_vector<float>(), g = Tensor::randn(Shape{n}, 2).to_vector<float>(),
                     m = Tensor::randn(Shape{n}, 3).to_vector<float>(), v = Tensor::rand(Shape{n}, 4).to_vector<float>();
  const kernels::SgdParams<float> hs{0.1f, 0.9f, 0.f, 1e-4f, true, false};
  const kernels::AdamParams<float> ha{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, 0.01f, 0.05f, true, false};
  auto up = [](const std::vector<float>& x) { return Tensor::from_vector(x, Shape{int64_t(x.size())}, Device::cuda()); };
  // SGD (nesterov momentum)
  std::vector<float> pc = p, bc = m;
  kernels::sgd_step_hp_cpu<float>(pc.data(), g.data(), bc.data(), n, &hs);
  Tensor pd = up(p), gd = up(g), bd = up(m);
  Tensor hd = Tensor::empty(Shape{8}, DType::f64, Device::cuda());
  copy_bytes(hd.data_ptr(), Device::cuda(), &hs, Device::cpu(), sizeof hs);
  kernels::sgd_step_hp_cuda<float>(pd.data<float>(), gd.data<float>(), bd.data<float>(), n,
                                   static_cast<const kernels::SgdParams<float>*>(hd.data_ptr()), current_stream(Device::cuda()));
  // nvcc contracts the multiply-adds into fma, the default host build cannot: equal to rounding.
  const std::vector<float> gp = pd.to_vector<float>(), gb = bd.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_NEAR(gp[size_t(i)], pc[size_t(i)], 1e-6f * (1.f + std::abs(pc[size_t(i)]))) << i;
    ASSERT_NEAR(gb[size_t(i)], bc[size_t(i)], 1e-6f * (1.f + std::abs(bc[size_t(i)]))) << i;
  }
  // AdamW
  std::vector<float> pa = p, ma = m, va = v;
  kernels::adam_step_hp_cpu<float>(pa.data(), g.data(), ma.data(), va.data(), nullptr, n, &ha);
  Tensor pd2 = up(p), md = up(m), vd = up(v);
  copy_bytes(hd.data_ptr(), Device::cuda(), &ha, Device::cpu(), sizeof ha);
  kernels::adam_step_hp_cuda<float>(pd2.data<float>(), gd.data<float>(), md.data<float>(), vd.data<float>(), nullptr, n,
                                    static_cast<const kernels::AdamParams<float>*>(hd.data_ptr()),
                                    current_stream(Device::cuda()));
  const std::vector<float> got = pd2.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[size_t(i)], pa[size_t(i)], 1e-6f * (1.f + std::abs(pa[size_t(i)]))) << i;
}

#endif
TEST(OptimizerGraphGpu, TrainerWithGraphEqualsEagerBitForBit) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  const bool was = deterministic();
  set_deterministic(true);
  auto run_job = [](bool graph, const std::string& out) {
    Config cfg = leseg::train::testing::tiny_config(out);
    cfg.apply_overrides({"device=cuda", "train.precision=f32", "train.clip_grad_norm=1.0",
                         std::string("train.cuda_graph=") + (graph ? "true" : "false")});
    Job job = build_job(cfg, JobKind::Train);
    job.trainer.verbose = false;
    Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
    return t.run();
  };
  const TrainResult eager = run_job(false, leseg::train::testing::scratch("graph_off"));
  const TrainResult graphed = run_job(true, leseg::train::testing::scratch("graph_on"));
  set_deterministic(was);
  ASSERT_EQ(eager.step_losses.size(), 8u);
  ASSERT_EQ(graphed.step_losses.size(), eager.step_losses.size());
  for (size_t i = 0; i < eager.step_losses.size(); ++i)
    EXPECT_EQ(std::memcmp(&eager.step_losses[i], &graphed.step_losses[i], sizeof(double)), 0) << "step " << i + 1;
  Checkpoint a = load_checkpoint(eager.last_checkpoint), b = load_checkpoint(graphed.last_checkpoint);
  ASSERT_EQ(a.model.size(), b.model.size());
  for (auto& [k, v] : a.model) {
    ASSERT_TRUE(b.model.count(k)) << k;
    EXPECT_EQ(std::memcmp(v.data_ptr(), b.model.at(k).data_ptr(), v.nbytes()), 0) << k;
  }
}
