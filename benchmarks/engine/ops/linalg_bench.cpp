// SPDX-License-Identifier: Apache-2.0
// matmul / linear throughput (FLOP/s = 2·M·N·K per product): square 256..2048 and the tall-skinny shapes
// of point-feature layers (1M×32 · 32×32, 200k×96 · 96×20), forward and backward of linear.
// CPU always; CUDA variants registered only when a device answers.
#include <benchmark/benchmark.h>

#include "engine/autograd.h"
#include "engine/ops/linalg.h"
#include "engine/rng.h"

namespace {
using namespace leseg;

void BM_matmul(benchmark::State& st, Device d, int64_t M, int64_t K, int64_t N) {
  Generator g(1);
  Tensor a = randn(Shape{M, K}, g, DType::f32, d), b = randn(Shape{K, N}, g, DType::f32, d);
  for (auto _ : st) {
    Tensor c = matmul(a, b);
    synchronize(d);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(M) * double(N) * double(K) * double(st.iterations()),
                                             benchmark::Counter::kIsRate);
  st.SetBytesProcessed(int64_t(st.iterations()) * (M * K + K * N + M * N) * 4);
}

// linear forward + backward (dx, dW, db): 3 GEMMs of 2·R·in·out FLOPs.
void BM_linear_fwd_bwd(benchmark::State& st, Device d, int64_t R, int64_t in, int64_t out) {
  Generator g(2);
  Tensor x = randn(Shape{R, in}, g, DType::f32, d), w = randn(Shape{out, in}, g, DType::f32, d);
  Tensor b = randn(Shape{out}, g, DType::f32, d), gy = randn(Shape{R, out}, g, DType::f32, d);
  x.requires_grad_(), w.requires_grad_(), b.requires_grad_();
  for (auto _ : st) {
    Tensor y = linear(x, w, b);
    y.backward(gy);
    x.zero_grad(), w.zero_grad(), b.zero_grad();
    synchronize(d);
  }
  st.counters["FLOP/s"] = benchmark::Counter(3 * 2.0 * double(R) * double(in) * double(out) * double(st.iterations()),
                                             benchmark::Counter::kIsRate);
}

void register_all(Device d, const std::string& tag) {
  for (int64_t n : {256, 512, 1024, 2048})
    benchmark::RegisterBenchmark(("matmul_square/" + tag + "/" + std::to_string(n)).c_str(), BM_matmul, d, n, n, n)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark(("matmul_tall/" + tag + "/1Mx32x32").c_str(), BM_matmul, d, 1000000, 32, 32)
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark(("matmul_tall/" + tag + "/200kx96x20").c_str(), BM_matmul, d, 200000, 96, 20)
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark(("linear_fwd_bwd/" + tag + "/200kx96x20").c_str(), BM_linear_fwd_bwd, d, 200000, 96, 20)
      ->Unit(benchmark::kMillisecond)->UseRealTime();
}

const int registered = [] {
  register_all(Device::cpu(), "cpu");
  if (cuda_available()) register_all(Device::cuda(), "cuda");
  return 0;
}();
}  // namespace
