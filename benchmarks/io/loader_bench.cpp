// SPDX-License-Identifier: Apache-2.0
// Loader throughput on the bundled synthetic scenes (default IndoorOptions: 240x320, 6 views, ~50k-150k
// points): scenes/s and points/s for
//   BM_MakeBatch        one batch of 2 in-memory scenes (augment + voxelize 0.05, with / without the 2D side:
//                       pairing, votes, 224x416 crops of image / CLIP / SAM / SAM features / captions);
//   BM_LoaderEpoch      a whole epoch of 8 in-memory scenes, batch 2, 0 / 1 / 2 worker threads;
//   BM_LoaderEpochDisk  the same from the on-disk layout (read_scene: .npy + PNG decode), 2 workers.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "io/datasets/scene_io.h"
#include "io/loader/loader.h"
#include "io/synthetic/generator.h"

using namespace leseg;

namespace {

const std::vector<io::Scene>& scenes() {
  static std::vector<io::Scene> s = [] {
    const Tensor text = io::synth::indoor_dataset_info().text_embeddings;
    std::vector<io::Scene> v;
    for (uint64_t i = 0; i < 8; ++i) {
      io::Scene sc = io::synth::generate_indoor_scene(100 + i, text, io::synth::IndoorOptions{});
      sc.name = "scene" + std::to_string(i);
      v.push_back(sc);
    }
    return v;
  }();
  return s;
}

int64_t total_points(const std::vector<io::Scene>& v) {
  int64_t n = 0;
  for (const io::Scene& s : v) n += s.num_points();
  return n;
}

void rates(benchmark::State& st, int64_t scenes_per_iter, int64_t points_per_iter) {
  st.counters["scenes/s"] = benchmark::Counter(double(scenes_per_iter) * double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["points/s"] = benchmark::Counter(double(points_per_iter) * double(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_MakeBatch(benchmark::State& st) {
  const std::vector<io::Scene>& sc = scenes();
  io::loader::BatchOptions o = io::loader::BatchOptions::indoor();
  o.views.enabled = st.range(0) != 0;
  uint64_t seed = 0;
  int64_t voxels = 0;
  for (auto _ : st) {
    io::loader::Batch b = io::loader::make_batch({{&sc[0], true, seed}, {&sc[1], true, seed + 1}}, o);
    seed += 2;
    voxels += b.num_voxels();
    benchmark::DoNotOptimize(b.inverse.data_ptr());
  }
  rates(st, 2, sc[0].num_points() + sc[1].num_points());
  st.counters["voxels/batch"] = double(voxels) / double(st.iterations());
}
BENCHMARK(BM_MakeBatch)->Arg(0)->Arg(1)->ArgNames({"views"})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LoaderEpoch(benchmark::State& st) {
  io::loader::LoaderOptions o;
  o.batch_size = 2;
  o.num_workers = int(st.range(0));
  o.batch.views.enabled = true;
  io::loader::Loader l(io::loader::memory_source(scenes()), o);
  int64_t epoch = 0;
  for (auto _ : st) {
    l.start_epoch(epoch++);
    io::loader::Batch b;
    while (l.next(b)) benchmark::DoNotOptimize(b.inverse.data_ptr());
  }
  rates(st, int64_t(scenes().size()), total_points(scenes()));
}
BENCHMARK(BM_LoaderEpoch)->Arg(0)->Arg(1)->Arg(2)->ArgNames({"workers"})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LoaderEpochDisk(benchmark::State& st) {
  static const std::string root = [] {
    const std::string r = (std::filesystem::temp_directory_path() / "leseg_loader_bench").string();
    std::filesystem::remove_all(r);
    std::vector<std::string> names;
    for (const io::Scene& s : scenes()) {
      io::write_scene(r + "/scenes/" + s.name, s);
      names.push_back(s.name);
    }
    io::write_split(r, "train", names);
    return r;
  }();
  io::loader::LoaderOptions o;
  o.batch_size = 2;
  o.num_workers = int(st.range(0));
  o.batch.views.enabled = true;
  io::loader::Loader l(io::loader::directory_source(root, "train"), o);
  int64_t epoch = 0;
  for (auto _ : st) {
    l.start_epoch(epoch++);
    io::loader::Batch b;
    while (l.next(b)) benchmark::DoNotOptimize(b.inverse.data_ptr());
  }
  rates(st, int64_t(scenes().size()), total_points(scenes()));
}
BENCHMARK(BM_LoaderEpochDisk)->Arg(2)->ArgNames({"workers"})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
