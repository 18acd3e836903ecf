// SPDX-License-Identifier: Apache-2.0
// Bandwidth of the elementwise and reduction ops (f32; bytes = reads + writes of the tensors touched):
// add / mul (equal shapes), add with a broadcast row (N/32, 32) + (32), gelu, and the reductions:
// sum over all elements, sum / max over the last dim of (N/20, 20) rows (the softmax-like case, inner = 1),
// mean over dim 0 of (N/32, 32) point features (inner > 1). N = 1M, 4M, 16M elements.
// CPU always; CUDA variants registered only when a device answers.
#include <benchmark/benchmark.h>

#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"

namespace {
using namespace leseg;

enum class Kind { add, mul, add_row, gelu, sum_all, sum_rows20, max_rows20, mean_dim0_32 };

void BM_op(benchmark::State& st, Device d, Kind k, int64_t n) {
  Generator g(1);
  Tensor a, b;
  double bytes = 0;
  switch (k) {
    case Kind::add: case Kind::mul:
      a = randn(Shape{n}, g, DType::f32, d), b = randn(Shape{n}, g, DType::f32, d), bytes = 3.0 * n * 4;
      break;
    case Kind::add_row:
      a = randn(Shape{n / 32, 32}, g, DType::f32, d), b = randn(Shape{32}, g, DType::f32, d), bytes = 2.0 * n * 4;
      break;
    case Kind::gelu: a = randn(Shape{n}, g, DType::f32, d), bytes = 2.0 * n * 4; break;
    case Kind::sum_all: a = randn(Shape{n}, g, DType::f32, d), bytes = 1.0 * n * 4; break;
    case Kind::sum_rows20: case Kind::max_rows20:
      a = randn(Shape{n / 20, 20}, g, DType::f32, d), bytes = 1.05 * n * 4;
      break;
    case Kind::mean_dim0_32: a = randn(Shape{n / 32, 32}, g, DType::f32, d), bytes = 1.0 * n * 4; break;
  }
  for (auto _ : st) {
    Tensor r;
    switch (k) {
      case Kind::add: r = a + b; break;
      case Kind::mul: r = a * b; break;
      case Kind::add_row: r = a + b; break;
      case Kind::gelu: r = gelu(a); break;
      case Kind::sum_all: r = sum(a); break;
      case Kind::sum_rows20: r = sum(a, 1); break;
      case Kind::max_rows20: r = max(a, 1).values; break;
      case Kind::mean_dim0_32: r = mean(a, 0); break;
    }
    synchronize(d);
    benchmark::DoNotOptimize(r.data_ptr());
  }
  st.SetBytesProcessed(int64_t(double(st.iterations()) * bytes));
}

void register_all(Device d, const std::string& tag) {
  const std::pair<Kind, const char*> kinds[] = {
      {Kind::add, "add"},           {Kind::mul, "mul"},               {Kind::add_row, "add_bcast_row32"},
      {Kind::gelu, "gelu"},         {Kind::sum_all, "sum_all"},       {Kind::sum_rows20, "sum_rows20"},
      {Kind::max_rows20, "max_rows20"}, {Kind::mean_dim0_32, "mean_dim0_32"}};
  for (const auto& [k, name] : kinds)
    for (int64_t n : {int64_t(1) << 20, int64_t(1) << 22, int64_t(1) << 24})
      benchmark::RegisterBenchmark((std::string(name) + "/" + tag + "/" + std::to_string(n >> 20) + "M").c_str(), BM_op, d, k, n)
          ->Unit(benchmark::kMillisecond)->UseRealTime();
}

const int registered = [] {
  register_all(Device::cpu(), "cpu");
  if (cuda_available()) register_all(Device::cuda(), "cuda");
  return 0;
}();

}  // namespace
