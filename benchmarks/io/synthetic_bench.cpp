// SPDX-License-Identifier: Apache-2.0
// io benchmarks: synthetic scenes generated per second, kNN queries per second at 100k points (CPU and,
// with a device, CUDA), 2D-3D pairs per second.
#include <benchmark/benchmark.h>

#include "engine/device.h"
#include "io/geometry/neighbors.h"
#include "io/geometry/pairing.h"
#include "io/synthetic/generator.h"

using namespace leseg;

namespace {
const Tensor& text() {
  static Tensor t = io::synth::indoor_dataset_info().text_embeddings;
  return t;
}
const io::Scene& scene() {
  static io::Scene s = [] {
    io::synth::IndoorOptions o;
    o.point_density = 1200;
    o.geometric_segments = false;
    return io::synth::generate_indoor_scene(1, text(), o);
  }();
  return s;
}
// 100k points: rooms side by side (10 m apart along x) until 100k are collected.
Tensor points_100k() {
  io::synth::IndoorOptions o;
  o.num_views = 0;
  o.geometric_segments = false;
  std::vector<float> p;
  for (uint64_t seed = 0; p.size() < 300000; ++seed) {
    std::vector<float> c = io::synth::generate_indoor_scene(seed, text(), o).coords.to_vector<float>();
    for (size_t i = 0; i < c.size(); i += 3) c[i] += 10.f * float(seed);
    p.insert(p.end(), c.begin(), c.end());
  }
  p.resize(300000);
  return Tensor::from_vector(p, Shape{100000, 3});
}

void BM_GenerateIndoorScene(benchmark::State& st) {
  io::synth::IndoorOptions o;
  o.geometric_segments = st.range(0) != 0;
  uint64_t seed = 0;
  int64_t points = 0;
  for (auto _ : st) {
    io::Scene s = io::synth::generate_indoor_scene(seed++, text(), o);
    points += s.num_points();
    benchmark::DoNotOptimize(s.coords.data_ptr());
  }
  st.counters["scenes/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["points/scene"] = double(points) / double(st.iterations());
}
BENCHMARK(BM_GenerateIndoorScene)->Arg(0)->Arg(1)->ArgNames({"segments"})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GenerateOutdoorScene(benchmark::State& st) {
  static Tensor t = io::synth::outdoor_dataset_info().text_embeddings;
  io::synth::OutdoorOptions o;
  o.geometric_segments = false;
  uint64_t seed = 0;
  for (auto _ : st) benchmark::DoNotOptimize(io::synth::generate_outdoor_scene(seed++, t, o).coords.data_ptr());
  st.counters["scenes/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GenerateOutdoorScene)->Unit(benchmark::kMillisecond)->UseRealTime();

void knn_bench(benchmark::State& st, Device dev) {
  Tensor p = points_100k().to(dev);
  const int k = int(st.range(0));
  io::NeighborIndex index(p);
  for (auto _ : st) {
    io::KnnResult r = index.knn(p, k);
    synchronize(dev);
    benchmark::DoNotOptimize(r.idx.data_ptr());
  }
  st.counters["queries/s"] = benchmark::Counter(double(st.iterations()) * double(p.size(0)), benchmark::Counter::kIsRate);
  st.counters["points"] = double(p.size(0));
  st.SetBytesProcessed(int64_t(st.iterations()) * p.size(0) * (12 + int64_t(k) * 8));
}
void BM_KnnCpu(benchmark::State& st) { knn_bench(st, Device::cpu()); }
BENCHMARK(BM_KnnCpu)->Arg(16)->ArgNames({"k"})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GridBuild(benchmark::State& st) {
  Tensor p = points_100k();
  for (auto _ : st) benchmark::DoNotOptimize(io::NeighborIndex(p).cell());
  st.counters["points/s"] = benchmark::Counter(double(st.iterations()) * double(p.size(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GridBuild)->Unit(benchmark::kMillisecond)->UseRealTime();

void pairing_bench(benchmark::State& st, Device dev) {
  const io::Scene& s = scene();
  Tensor c = s.coords.to(dev);
  int64_t pairs = 0;
  for (auto _ : st) {
    for (const io::View& v : s.views) pairs += io::pair_points(c, v).size(0);
  }
  st.counters["pairs/s"] = benchmark::Counter(double(pairs), benchmark::Counter::kIsRate);
  st.counters["points/s"] = benchmark::Counter(double(st.iterations()) * double(s.views.size()) * double(s.num_points()),
                                               benchmark::Counter::kIsRate);
}
void BM_PairingCpu(benchmark::State& st) { pairing_bench(st, Device::cpu()); }
void BM_PairingCuda(benchmark::State& st) { pairing_bench(st, Device::cuda()); }
BENCHMARK(BM_PairingCpu)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_CropPairs(benchmark::State& st) {
  const io::Scene& s = scene();
  Tensor pairs = io::pair_points(s.coords, s.views[0]);
  uint64_t seed = 0;
  for (auto _ : st) benchmark::DoNotOptimize(io::random_crop_pairs(pairs, 240, 320, seed++).pairs.data_ptr());
  st.counters["pairs/s"] = benchmark::Counter(double(st.iterations()) * double(pairs.size(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CropPairs)->Unit(benchmark::kMillisecond)->UseRealTime();

const int kCudaRegistered = [] {
  if (cuda_available()) {
    benchmark::RegisterBenchmark("BM_KnnCuda/k:16", [](benchmark::State& st) { knn_bench(st, Device::cuda()); })
        ->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("BM_PairingCuda", BM_PairingCuda)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}();
}  // namespace
