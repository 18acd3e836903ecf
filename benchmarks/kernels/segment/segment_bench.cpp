// SPDX-License-Identifier: Apache-2.0
// Voting and segment reductions at 1M elements × 20 classes, 10k groups: mode vote (CPU twin; CUDA
// SharedHistogram is skipped at this size (G·C·8 > 48 KiB), SortReduce), a naive per-group serial reference,
// soft vote (mean prob per group, broadcast) and segment_max. Bytes: inputs read + outputs written.
#include <benchmark/benchmark.h>

#include <map>

#include "engine/autograd.h"
#include "engine/ops/segment.h"
#include "engine/rng.h"

using namespace leseg;

namespace {
constexpr int64_t kN = 1 << 20, kC = 20, kG = 10000;

struct Data {
  Tensor group, labels, probs;
};
Data make(Device d) {
  Generator g(2);
  auto u = rand(Shape{kN}, g, DType::f64).to_vector<double>();
  auto v = rand(Shape{kN}, g, DType::f64).to_vector<double>();
  std::vector<int64_t> grp(static_cast<size_t>(kN)), lab(static_cast<size_t>(kN));
  for (int64_t i = 0; i < kN; ++i) {
    grp[size_t(i)] = int64_t(u[size_t(i)] * kG) % kG;
    lab[size_t(i)] = v[size_t(i)] < 0.05 ? -1 : int64_t(v[size_t(i)] * kC) % kC;
  }
  return {Tensor::from_vector(grp, Shape{kN}).to(d), Tensor::from_vector(lab, Shape{kN}).to(d),
          rand(Shape{kN, kC}, g).to(d)};
}

void vote(benchmark::State& st, Device d, std::optional<VoteVariant> v) {
  Data data = make(d);
  for (auto _ : st) {
    VoteResult r = vote_mode(data.group, data.labels, kG, kC, -1, Tensor(), v);
    benchmark::DoNotOptimize(r.point_mode.data_ptr());
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(kN * 8 * 3) * st.iterations());
}

// Naive reference: a std::map histogram per group (what a first implementation would write).
void vote_naive(benchmark::State& st) {
  Data data = make(Device::cpu());
  const int64_t* g = data.group.data<int64_t>();
  const int64_t* y = data.labels.data<int64_t>();
  for (auto _ : st) {
    std::vector<std::map<int64_t, int64_t>> h(static_cast<size_t>(kG));
    for (int64_t i = 0; i < kN; ++i)
      if (y[i] >= 0) h[size_t(g[i])][y[i]]++;
    std::vector<int64_t> mode(static_cast<size_t>(kG), -1), pm(static_cast<size_t>(kN));
    for (int64_t k = 0; k < kG; ++k) {
      int64_t bc = 0;
      for (auto [c, n] : h[size_t(k)])
        if (n > bc) bc = n, mode[size_t(k)] = c;
    }
    for (int64_t i = 0; i < kN; ++i) pm[size_t(i)] = mode[size_t(g[i])];
    benchmark::DoNotOptimize(pm.data());
  }
  st.SetBytesProcessed(int64_t(kN * 8 * 3) * st.iterations());
}

void soft(benchmark::State& st, Device d) {
  Data data = make(d);
  NoGradGuard ng;
  for (auto _ : st) {
    Tensor r = soft_vote(data.probs, data.group, kG);
    benchmark::DoNotOptimize(r.data_ptr());
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(kN * kC * 4 * 2 + kN * 8 * 2) * st.iterations());
}

void segmax(benchmark::State& st, Device d) {
  Data data = make(d);
  NoGradGuard ng;
  for (auto _ : st) {
    Tensor r = segment_max(data.probs, data.group, kG);
    benchmark::DoNotOptimize(r.data_ptr());
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(kN * kC * 4 + kN * 8) * st.iterations());
}

const int registered = [] {
  benchmark::RegisterBenchmark("vote_mode/cpu", [](benchmark::State& s) { vote(s, Device::cpu(), std::nullopt); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("vote_mode/naive_map_cpu", vote_naive)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("soft_vote/cpu", [](benchmark::State& s) { soft(s, Device::cpu()); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("segment_max/cpu", [](benchmark::State& s) { segmax(s, Device::cpu()); })
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  if (cuda_available()) {
    benchmark::RegisterBenchmark("vote_mode/cuda_sort_reduce",
                                 [](benchmark::State& s) { vote(s, Device::cuda(), VoteVariant::SortReduce); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("soft_vote/cuda", [](benchmark::State& s) { soft(s, Device::cuda()); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("segment_max/cuda", [](benchmark::State& s) { segmax(s, Device::cuda()); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}();
}  // namespace
