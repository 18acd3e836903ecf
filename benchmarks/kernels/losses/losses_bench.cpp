// SPDX-License-Identifier: Apache-2.0
// Fused losses vs their unfused composition of engine ops (forward + backward), 1M rows × 20 classes f32,
// plus fused rows with f16 / bf16 logits (`_f16`, `_bf16`: 2-byte reads and gradient writes).
// Bytes counted for the fused path: logits read twice (stats + gradient) and the gradient written once
// (+ the second input where there is one); the same figure is used for the unfused run so the GB/s
// compare as speed. CUDA variants are registered only when a device answers.
#include <benchmark/benchmark.h>

#include "engine/determinism.h"
#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "kernels/losses/losses.h"

using namespace leseg;

namespace {
constexpr int64_t kN = 1 << 20, kC = 20;

struct Inputs {
  Tensor z, t, y, onehot;
};
Inputs make(Device d, DType dt) {
  Generator g(1);
  Inputs in;
  in.z = randn(Shape{kN, kC}, g).to(dt).to(d);
  in.t = randn(Shape{kN, kC}, g).to(dt).to(d);
  Tensor u = rand(Shape{kN}, g, DType::f64);
  std::vector<int64_t> y(static_cast<size_t>(kN));
  std::vector<float> oh(size_t(kN * kC), 0.f);
  const double* pu = u.data<double>();
  for (int64_t i = 0; i < kN; ++i) {
    y[size_t(i)] = int64_t(pu[i] * kC) % kC;
    oh[size_t(i * kC + y[size_t(i)])] = 1.f;
  }
  in.y = Tensor::from_vector(y, Shape{kN}).to(d);
  in.onehot = Tensor::from_vector(oh, Shape{kN, kC}).to(d);
  return in;
}

template <class F>
void run(benchmark::State& st, Device d, DType dt, int inputs_with_grad, F f) {
  Inputs in = make(d, dt);
  for (auto _ : st) {
    Tensor z = in.z.detach().requires_grad_();
    Tensor t = inputs_with_grad > 1 ? in.t.detach().requires_grad_() : in.t;
    Tensor loss = f(in, z, t);
    loss.backward();
    benchmark::DoNotOptimize(z.grad().data_ptr());
    synchronize(d);
  }
  const double bytes = double(kN * kC) * double(dtype_size(dt)) * (3.0 + 2.0 * (inputs_with_grad - 1));
  st.SetBytesProcessed(int64_t(bytes) * st.iterations());
}

void reg(const char* name, int nin, std::function<Tensor(const Inputs&, const Tensor&, const Tensor&)> f,
         DType dt = DType::f32) {
  benchmark::RegisterBenchmark((std::string(name) + "/cpu").c_str(),
                               [=](benchmark::State& s) { run(s, Device::cpu(), dt, nin, f); })
      ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  if (cuda_available())
    benchmark::RegisterBenchmark((std::string(name) + "/cuda").c_str(),
                                 [=](benchmark::State& s) { run(s, Device::cuda(), dt, nin, f); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Wide rows (4096 rows x 4096 classes): the CE kernel alone (forward + gradient), per CUDA row mapping
// (warp per row vs block per row; Auto picks block per row here), and the CPU twin.
constexpr int64_t kWideN = 4096, kWideC = 4096;
void BM_ce_wide(benchmark::State& st, Device d, kernels::LossVariant variant) {
  Generator g(2);
  Tensor z = randn(Shape{kWideN, kWideC}, g).to(d);
  std::vector<int64_t> yv(static_cast<size_t>(kWideN));
  for (int64_t i = 0; i < kWideN; ++i) yv[size_t(i)] = (i * 131) % kWideC;
  Tensor y = Tensor::from_vector(yv, Shape{kWideN}).to(d), dz = empty_like(z);
  Tensor acc = Tensor::empty(Shape{2}, DType::f64, d);
  for (auto _ : st) {
    if (d.is_cpu())
      kernels::cross_entropy_cpu<float>(z.data<float>(), y.data<int64_t>(), nullptr, kWideN, kWideC, -1, 0.0,
                                        dz.data<float>(), acc.data<double>());
#if LESEG_WITH_CUDA
    else
      kernels::cross_entropy_cuda<float>(z.data<float>(), y.data<int64_t>(), nullptr, kWideN, kWideC, -1, 0.0,
                                         dz.data<float>(), acc.data<double>(), current_stream(d), variant);
#endif
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(double(kWideN * kWideC) * 4.0 * 3.0) * st.iterations());
}

const int registered = [] {
  reg("cross_entropy/fused", 1, [](const Inputs& in, const Tensor& z, const Tensor&) { return cross_entropy(z, in.y); });
  reg("cross_entropy/fused_f16", 1, [](const Inputs& in, const Tensor& z, const Tensor&) { return cross_entropy(z, in.y); },
      DType::f16);
  reg("cross_entropy/fused_bf16", 1, [](const Inputs& in, const Tensor& z, const Tensor&) { return cross_entropy(z, in.y); },
      DType::bf16);
  // Deterministic mode: the fixed-order two-pass accumulation instead of one double atomic per block (compare with
  // cross_entropy/fused in the same run to decide which should be the default).
  reg("cross_entropy/fused_deterministic", 1, [](const Inputs& in, const Tensor& z, const Tensor&) {
    set_deterministic(true);
    Tensor l = cross_entropy(z, in.y);
    set_deterministic(false);
    return l;
  });
  reg("cross_entropy/unfused", 1, [](const Inputs& in, const Tensor& z, const Tensor&) {
    return div(neg(sum(mul(in.onehot, log_softmax(z, 1)))), double(kN));
  });
  reg("soft_cross_entropy/fused", 2, [](const Inputs&, const Tensor& z, const Tensor& p) { return soft_cross_entropy(z, p); });
  reg("soft_cross_entropy/fused_bf16", 2,
      [](const Inputs&, const Tensor& z, const Tensor& p) { return soft_cross_entropy(z, p); }, DType::bf16);
  reg("soft_cross_entropy/unfused", 2, [](const Inputs&, const Tensor& z, const Tensor& p) {
    return mean(neg(sum(mul(p, log_softmax(z, 1)), 1)));
  });
  reg("entropy/fused", 1, [](const Inputs&, const Tensor& z, const Tensor&) { return entropy(z); });
  reg("entropy/unfused", 1, [](const Inputs&, const Tensor& z, const Tensor&) {
    Tensor lq = log_softmax(z, 1);
    return mean(neg(sum(mul(exp(lq), lq), 1)));
  });
  reg("kl_div/fused", 2, [](const Inputs&, const Tensor& z, const Tensor& t) { return kl_div(t, z, 2.0); });
  reg("kl_div/fused_bf16", 2, [](const Inputs&, const Tensor& z, const Tensor& t) { return kl_div(t, z, 2.0); },
      DType::bf16);
  reg("kl_div/unfused", 2, [](const Inputs&, const Tensor& z, const Tensor& t) {
    Tensor lp = log_softmax(div(t, 2.0), 1), lq = log_softmax(div(z, 2.0), 1);
    return mul(sum(mul(exp(lp), sub(lp, lq))), 4.0 / double(kN));
  });
  reg("negative_learning/fused", 1, [](const Inputs& in, const Tensor& z, const Tensor&) {
    return negative_learning(z, in.y);
  });
  reg("negative_learning/unfused", 1, [](const Inputs& in, const Tensor& z, const Tensor&) {
    return mean(neg(log(sub(1.0, sum(mul(in.onehot, softmax(z, 1)), 1)))));
  });
  reg("confidence_split/fused", 1, [](const Inputs& in, const Tensor& z, const Tensor&) {
    ConfidenceSplit s = confidence_split(z, in.t, 0.3);
    return add(s.loss_ce, s.loss_nl);
  });
  reg("cosine_embedding/fused", 2, [](const Inputs&, const Tensor& a, const Tensor& b) { return cosine_embedding_loss(a, b); });
  reg("mse/fused", 2, [](const Inputs&, const Tensor& a, const Tensor& b) { return mse_loss(a, b); });
  reg("mse/unfused", 2, [](const Inputs&, const Tensor& a, const Tensor& b) {
    Tensor d = sub(a, b);
    return mean(mul(d, d));
  });
  benchmark::RegisterBenchmark("cross_entropy_wide_4096/kernel/cpu",
                               [](benchmark::State& s) { BM_ce_wide(s, Device::cpu(), kernels::LossVariant::Auto); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  if (cuda_available()) {
    benchmark::RegisterBenchmark("cross_entropy_wide_4096/kernel/cuda_warp_per_row", [](benchmark::State& s) {
      BM_ce_wide(s, Device::cuda(), kernels::LossVariant::WarpPerRow);
    })->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("cross_entropy_wide_4096/kernel/cuda_block_per_row", [](benchmark::State& s) {
      BM_ce_wide(s, Device::cuda(), kernels::LossVariant::BlockPerRow);
    })->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}();
}  // namespace
