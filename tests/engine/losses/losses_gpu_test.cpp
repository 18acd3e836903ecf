// SPDX-License-Identifier: Apache-2.0
// CUDA fused losses vs the CPU twin at realistic widths (C = 20, 37, 512; rows not a multiple of the
// 8-rows-per-block launch), with ignored rows, logits of ±1e4 and the all-ignored case.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/determinism.h"
#include "engine/ops/losses.h"
#include "engine/rng.h"

using namespace leseg;

namespace {
Tensor mul_by(const Tensor& t, double f) {
  Tensor r = t.clone();
  auto v = r.to_vector<float>();
  for (auto& x : v) x *= float(f);
  return Tensor::from_vector(v, r.shape());
}
void expect_close(const Tensor& got, const Tensor& ref, double atol, double rtol, const std::string& what) {
  auto a = got.to_vector<double>(), b = ref.to_vector<double>();
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  for (size_t j = 0; j < a.size(); ++j)
    if (!(std::abs(a[j] - b[j]) <= atol + rtol * std::abs(b[j])) && bad++ < 8)
      ADD_FAILURE() << what << "[" << j << "]: cuda " << a[j] << ", cpu " << b[j];
}
Tensor labels_with_ignore(int64_t N, int64_t C, uint64_t seed) {
  Generator g(seed);
  auto u = rand(Shape{N}, g, DType::f64).to_vector<double>();
  std::vector<int64_t> y(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) y[size_t(i)] = u[size_t(i)] < 0.1 ? -1 : int64_t(u[size_t(i)] * double(C)) % C;
  return Tensor::from_vector(y, Shape{N});
}
// Runs f on CPU and CUDA with leaves copied from `inputs`; compares outputs and input gradients.
template <class F>
void parity(const std::vector<Tensor>& inputs, F f, const std::string& what, double atol = 1e-5, double rtol = 1e-4) {
  std::vector<Tensor> cpu, gpu;
  for (const auto& t : inputs) {
    cpu.push_back(t.clone().requires_grad_());
    gpu.push_back(t.to(Device::cuda()).requires_grad_());
  }
  std::vector<Tensor> oc = f(cpu), og = f(gpu);
  for (size_t k = 0; k < oc.size(); ++k) expect_close(og[k], oc[k], atol, rtol, what + " out" + std::to_string(k));
  std::vector<Tensor> rc, rg, gc, gg;
  for (size_t k = 0; k < oc.size(); ++k) {
    if (!needs_grad(oc[k])) continue;
    rc.push_back(oc[k]);
    rg.push_back(og[k]);
    gc.push_back(Tensor::full(Shape{}, 1.0 + double(k), oc[k].dtype()));
    gg.push_back(gc.back().to(Device::cuda()));
  }
  ASSERT_FALSE(rc.empty()) << what;
  run_backward(rc, gc, false);
  run_backward(rg, gg, false);
  for (size_t i = 0; i < cpu.size(); ++i)
    if (cpu[i].grad().defined())
      expect_close(gpu[i].grad(), cpu[i].grad(), atol, rtol, what + " grad" + std::to_string(i));
}
}  // namespace

TEST(LossesGpu, AllLossesMatchCpuTwin) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (int64_t C : {20, 37, 512}) {
    const int64_t N = C == 512 ? 203 : 1003;
    const std::string tag = "C=" + std::to_string(C) + " ";
    Generator g{uint64_t(C)};
    Tensor z = randn(Shape{N, C}, g), t = randn(Shape{N, C}, g), p = uniform(Shape{N, C}, 0.0, 1.0, g);
    Tensor y = labels_with_ignore(N, C, uint64_t(C) + 1);
    Tensor yg = y.to(Device::cuda());
    auto lab = [&](const Tensor& like) { return like.device().is_cpu() ? y : yg; };
    CrossEntropyOptions o;
    o.label_smoothing = 0.1;
    Tensor w = uniform(Shape{C}, 0.5, 2.0, g);
    parity({z}, [&](const std::vector<Tensor>& in) {
      CrossEntropyOptions oo = o;
      oo.class_weights = in[0].device().is_cpu() ? w : w.to(Device::cuda());
      return std::vector<Tensor>{cross_entropy(in[0], lab(in[0]), oo)};
    }, tag + "cross_entropy");
    parity({z, p}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{soft_cross_entropy(in[0], in[1])}; },
           tag + "soft_ce");
    parity({z}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{entropy(in[0])}; }, tag + "entropy");
    parity({z, t}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{kl_div(in[0], in[1], 2.0)}; },
           tag + "kl_div");
    parity({z}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{negative_learning(in[0], lab(in[0]))}; },
           tag + "nl");
    parity({z}, [&](const std::vector<Tensor>& in) {
      Tensor tt = in[0].device().is_cpu() ? mul_by(t, 3.0) : mul_by(t, 3.0).to(Device::cuda());
      ConfidenceSplit s = confidence_split(in[0], tt, 0.6);
      return std::vector<Tensor>{s.loss_ce, s.loss_nl, s.pseudo_labels, s.reliable};
    }, tag + "confidence_split");
    parity({z, t}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{cosine_embedding_loss(in[0], in[1])}; },
           tag + "cosine");
    parity({z, t}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{mse_loss(in[0], in[1])}; }, tag + "mse");
  }
}

TEST(LossesGpu, HugeLogitsAndAllIgnored) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  Tensor z = Tensor::from_vector<float>({1e4f, -1e4f, 0.f, 5.f, -1e4f, 1e4f, 1e4f, -1e4f}, Shape{2, 4});
  Tensor y = Tensor::from_vector<int64_t>({1, 0}, Shape{2});
  parity({z}, [&](const std::vector<Tensor>& in) {
    Tensor yy = in[0].device().is_cpu() ? y : y.to(Device::cuda());
    return std::vector<Tensor>{cross_entropy(in[0], yy), negative_learning(in[0], yy), entropy(in[0])};
  }, "huge", 1e-2, 1e-5);
  Tensor zi = Tensor::from_vector<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, Shape{2, 3}).to(Device::cuda()).requires_grad_();
  Tensor l = cross_entropy(zi, Tensor::full(Shape{2}, -1, DType::i64, Device::cuda()));
  EXPECT_EQ(l.item_double(), 0.0);
  l.backward();
  for (double v : zi.grad().to_vector<double>()) EXPECT_EQ(v, 0.0);
}

// Half logits through the engine ops: CUDA vs CPU twin, loss (f32) and gradients in the half dtype. The two
// sides round slightly different f32 / double values to the half type: up to one half ulp apart (2^-10 f16,
// 2^-7 bf16 relative), plus f32 accumulation noise; narrow (C = 20) and block-per-row (C = 4096) widths.
TEST(LossesGpu, HalfLogitsMatchCpuTwin) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (DType dt : {DType::f16, DType::bf16}) {
    const double ulp = dt == DType::f16 ? 1.0 / 1024 : 1.0 / 128;
    for (int64_t C : {20, 4096}) {
      const int64_t N = C == 20 ? 301 : 37;
      const std::string tag = std::string(dtype_name(dt)) + " C=" + std::to_string(C) + " ";
      Generator g{uint64_t(C) + 7};
      Tensor z = mul_by(randn(Shape{N, C}, g), 3.0).to(dt), t = randn(Shape{N, C}, g).to(dt);
      Tensor p = uniform(Shape{N, C}, 0.0, 1.0, g).to(dt);
      Tensor y = labels_with_ignore(N, C, uint64_t(C) + 1), yg = y.to(Device::cuda());
      auto lab = [&](const Tensor& like) { return like.device().is_cpu() ? y : yg; };
      parity({z}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{cross_entropy(in[0], lab(in[0]))}; },
             tag + "cross_entropy", 1e-6, 1e-4 + 2 * ulp);
      parity({z, p}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{soft_cross_entropy(in[0], in[1])}; },
             tag + "soft_ce", 1e-6, 1e-4 + 2 * ulp);
      parity({z, t}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{kl_div(in[0], in[1], 2.0)}; },
             tag + "kl_div", 1e-6, 1e-4 + 2 * ulp);
      parity({z}, [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{negative_learning(in[0], lab(in[0]))}; },
             tag + "nl", 1e-6, 1e-4 + 2 * ulp);
    }
  }
}

// Deterministic mode: every fused loss accumulates with the fixed-order two-pass reduction, so on the GPU the loss
// values repeat bit for bit (and still equal the CPU twin to rounding: AllLossesMatchCpuTwin under the same mode).
TEST(LossesGpu, DeterministicModeRepeatsBitForBit) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const bool was = deterministic();
  set_deterministic(true);
  const int64_t N = 50000, C = 20;
  Generator g{77};
  Tensor z = randn(Shape{N, C}, g).to(Device::cuda()), t = randn(Shape{N, C}, g).to(Device::cuda());
  Tensor y = labels_with_ignore(N, C, 78).to(Device::cuda());
  const Tensor t3 = mul_by(t, 3.0).to(Device::cuda());  // mul_by builds its result on the CPU
  auto losses = [&] {
    ConfidenceSplit s = confidence_split(z, t3, 0.6);
    return std::vector<double>{cross_entropy(z, y).item_double(), entropy(z).item_double(),
                               kl_div(z, t, 2.0).item_double(), negative_learning(z, y).item_double(),
                               s.loss_ce.item_double(), s.loss_nl.item_double(),
                               cosine_embedding_loss(z, t).item_double(), mse_loss(z, t).item_double()};
  };
  const std::vector<double> a = losses();
  for (int rep = 0; rep < 3; ++rep) {
    const std::vector<double> b = losses();
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << "repeat " << rep;
  }
  set_deterministic(was);
}
