// SPDX-License-Identifier: Apache-2.0
// Synthetic scene generation (io/synthetic): one geometry-only room (points + over-segmentation, the demo's
// `--views 0 --density 300` and the default density), one full room (6 RGB-D views + stand-ins +
// over-segmentation, default options), N full rooms through the parallel batch API (scenes/s on 1 and on
// all threads), and a written dataset (generation + .npy/PNG output, as `leseg data synth`).
// CPU only: the generators have no CUDA path.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "io/synthetic/dataset.h"
#include "io/synthetic/generator.h"
#include "io/synthetic/parallel.h"

using namespace leseg;

namespace {
const Tensor& text() {
  static Tensor t = io::synth::indoor_dataset_info().text_embeddings;
  return t;
}

void report(benchmark::State& st, int64_t scenes, int64_t points, int64_t pixels) {
  st.counters["scenes/s"] = benchmark::Counter(double(scenes), benchmark::Counter::kIsRate);
  st.counters["points/scene"] = double(points) / double(std::max<int64_t>(scenes, 1));
  // Output bytes of the arrays: points 3 f32 coords + 3 f32 normals + 3 u8 colours + 3 i32 (label, instance,
  // segment); pixels 3 u8 + f32 depth + 3 i32 (clip, sam, gt).
  st.SetBytesProcessed(points * (12 + 12 + 3 + 12) + pixels * (3 + 4 + 12));
}

int64_t pixels_of(const io::Scene& s) {
  int64_t p = 0;
  for (const io::View& v : s.views) p += v.clip_labels.numel();
  return p;
}

// Arg: points per m^2.
void BM_GeometryRoom(benchmark::State& st) {
  io::synth::IndoorOptions o;
  o.num_views = 0;
  o.point_density = double(st.range(0));
  uint64_t seed = 0;
  int64_t points = 0;
  for (auto _ : st) {
    io::Scene s = io::synth::generate_indoor_scene(seed++ % 16, text(), o);
    points += s.num_points();
    benchmark::DoNotOptimize(s.segments.data_ptr());
  }
  report(st, int64_t(st.iterations()), points, 0);
}
BENCHMARK(BM_GeometryRoom)->Arg(300)->Arg(900)->ArgNames({"density"})->Unit(benchmark::kMillisecond)->UseRealTime();

// Arg: over-segmentation on (1) / off (0).
void BM_FullRoom(benchmark::State& st) {
  io::synth::IndoorOptions o;
  o.geometric_segments = st.range(0) != 0;
  uint64_t seed = 0;
  int64_t points = 0, pixels = 0;
  for (auto _ : st) {
    io::Scene s = io::synth::generate_indoor_scene(seed++ % 16, text(), o);
    points += s.num_points();
    pixels += pixels_of(s);
    benchmark::DoNotOptimize(s.coords.data_ptr());
  }
  report(st, int64_t(st.iterations()), points, pixels);
}
BENCHMARK(BM_FullRoom)->Arg(1)->Arg(0)->ArgNames({"segments"})->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: rooms per batch, threads (0 = hardware concurrency).
void BM_FullRoomsParallel(benchmark::State& st) {
  const int64_t n = st.range(0);
  const int threads = int(st.range(1));
  io::synth::IndoorOptions o;
  std::vector<uint64_t> seeds;
  for (int64_t i = 0; i < n; ++i) seeds.push_back(uint64_t(100 + i));
  int64_t points = 0, pixels = 0;
  for (auto _ : st) {
    std::vector<io::Scene> scenes = io::synth::generate_indoor_scenes(seeds, text(), o, threads);
    for (const io::Scene& s : scenes) {
      points += s.num_points();
      pixels += pixels_of(s);
    }
  }
  report(st, int64_t(st.iterations()) * n, points, pixels);
  st.counters["threads"] = double(io::synth::resolve_threads(threads));
}
BENCHMARK(BM_FullRoomsParallel)->Args({8, 1})->Args({8, 0})->ArgNames({"rooms", "threads"})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

// Generation + writing (.npy, PNG) of N full rooms, as `leseg data synth --train N --val 0`.
void BM_WriteDataset(benchmark::State& st) {
  const std::string root =
      (std::filesystem::temp_directory_path() / ("leseg_synth_bench_" + std::to_string(::getpid()))).string();
  io::synth::SyntheticDatasetOptions o;
  o.train_scenes = int(st.range(0));
  o.val_scenes = 0;
  o.threads = int(st.range(1));
  for (auto _ : st) {
    io::synth::write_synthetic_dataset(root, o);
    st.PauseTiming();
    std::filesystem::remove_all(root);
    st.ResumeTiming();
  }
  st.counters["scenes/s"] = benchmark::Counter(double(st.iterations()) * double(o.train_scenes), benchmark::Counter::kIsRate);
  st.counters["threads"] = double(io::synth::resolve_threads(o.threads));
}
BENCHMARK(BM_WriteDataset)->Args({8, 0})->ArgNames({"rooms", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime()
    ->Iterations(1);
}  // namespace
