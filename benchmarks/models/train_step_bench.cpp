// SPDX-License-Identifier: Apache-2.0
// One supervised training step (forward + CE on a classifier head + backward + SGD step) for MinkUNet14A,
// MinkUNet34C and SPVCNN on a ScanNet-like synthetic room voxelised to ~100k (and ~200k) voxels. Reports the step
// time, the voxel count, the engine's peak memory during the step and the memory held at the end of the forward
// (fwd_kept_MiB: what the backward will read, mostly activations) above the step's start (memory_stats, MiB).
// SPVCNN's points are the voxel centres (one point per voxel, voxelised again by the model at the room's voxel size,
// so it sees the same voxels as MinkUNet; a real scan has several points per voxel, which makes its point branch
// dearer). CPU rows: f32 (TrainStep/cpu/<model>) and every precision (TrainStepPrecision/cpu/<model>/<precision>:
// bf16/f16/tf32 are the CPU's emulation, slower than f32; the rows exist for the peak memory and to show the path
// runs). Also the process's CPU time per step and per voxel (load-insensitive); TrainStepScale/cpu/MinkUNet14A:
// 10k / 100k / 1M voxels (cost per voxel). Two untimed warm-up steps first. CUDA rows per precision and conv variant
// only when a device answers. Few iterations: a CPU step takes seconds.
#include <optional>
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <time.h>

#include <cmath>
#include <map>

#include "benchmarks/common/synthetic_room.h"
#include "engine/nvtx.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/ops/losses.h"
#include "engine/optim/sgd.h"
#include "engine/precision.h"
#include "engine/sparse/conv_autotune.h"
#include "engine/sparse/sparse_ops.h"
#include "io/synthetic/generator.h"
#include "models/heads.h"
#include "models/registry.h"

using namespace leseg;

namespace {

using Room = bench::SyntheticRoom;

// The dense synthetic room (benchmarks/common/synthetic_room.h) at >= target voxels, from 5 cm down.
const Room& room(int64_t target) {
  static std::map<int64_t, Room> cache;
  auto it = cache.find(target);
  if (it != cache.end()) return it->second;
  // as the baseline harness (benchmarks/baselines/main.cpp): a denser scene above 250k voxels; below 50k the
  // search starts at 20 cm (5 cm already gives ~63k voxels)
  static const io::Scene scene = bench::dense_room_scene();
  if (target > 250000) {
    const io::Scene dense = bench::dense_room_scene(6000.0 * double(target) / 150000.0);
    return cache.emplace(target, bench::voxelize_room(dense, target, 0.05)).first->second;
  }
  return cache.emplace(target, bench::voxelize_room(scene, target, target < 50000 ? 0.2 : 0.05)).first->second;
}

// prec / variant: the CUDA rows per training precision and sparse-conv variant (nullopt: per-layer autotune).
void BM_TrainStep(benchmark::State& st, const std::string& name, Device dev, Precision prec = Precision::f32,
                  std::optional<ConvVariant> variant = std::nullopt, bool set_variant = false) {
  PrecisionScope precision_scope(prec);
  if (set_variant) {
    set_conv_variant_override(variant);
    set_conv_autotune(!variant.has_value());
  }
  struct Restore {
    bool on;
    ~Restore() {
      if (on) set_conv_variant_override(std::nullopt), set_conv_autotune(false);
    }
  } restore{set_variant};
  const Room& r = room(st.range(0));
  models::ModelOptions o;
  o.voxel_size = r.voxel_size;  // SPVCNN: voxelise the voxel centres back to the room's voxels
  models::Backbone b = models::create_backbone(name, o);
  Generator gen(1);
  auto head = std::make_shared<models::ProjectionHead>(b.out_channels, 20, true, gen);
  b.module->to(dev);
  head->to(dev);
  std::vector<Tensor> params = b.module->parameters();
  for (const Tensor& p : head->parameters()) params.push_back(p);
  ParamGroup hyper;
  hyper.lr = 0.01;
  hyper.momentum = 0.9;
  hyper.weight_decay = 1e-4;
  SGD opt(params, hyper);
  const Tensor coords = r.coords.to(dev), feats = r.feats.to(dev), labels = r.labels.to(dev);
  Tensor points, batch;  // SPVCNN: the voxel centres (M, 3) f32 in metres and their batch index
  if (b.spvcnn) {
    const int64_t m = r.coords.size(0);
    const auto c = r.coords.to_vector<int32_t>();
    std::vector<float> pv(static_cast<size_t>(3 * m));
    std::vector<int32_t> bv(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      bv[size_t(i)] = c[size_t(4 * i)];
      for (int d = 0; d < 3; ++d) pv[size_t(3 * i + d)] = float((double(c[size_t(4 * i + 1 + d)]) + 0.5) * r.voxel_size);
    }
    points = Tensor::from_vector<float>(pv, Shape{m, 3}).to(dev);
    batch = Tensor::from_vector<int32_t>(bv, Shape{m}).to(dev);
  }
  double peak_mib = 0, fwd_mib = 0, loss = 0, cpu_s = 0, sys_allocs = 0, minflt = 0;
  auto minor_faults = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_minflt);
  };
  auto process_cpu_s = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  };
  auto forward_loss = [&] {
    Tensor logits;
    if (b.spvcnn) {
      logits = head->forward(b.spvcnn->forward(points, batch, feats));  // voxelised inside: a fresh manager per step
    } else {
      SparseTensor x(coords, feats);  // a fresh manager per step, as the loader gives
      logits = head->forward(b.minkunet->forward(x).feats());
    }
    return cross_entropy(logits, labels);
  };
  for (int warm = 0; warm < 2; ++warm) {  // two untimed warm-up steps: first-touch page faults, the allocator's cache
     // (its segments settle within two steps), the autotuner's first calls are not what a training run pays per step
    Tensor l = forward_loss();
    opt.zero_grad();
    l.backward();
    opt.step();
    synchronize(dev);
  }
  for (auto _ : st) {
    const double c0 = process_cpu_s(), f0 = minor_faults();
    reset_peak_memory(dev);
    const size_t base = memory_stats(dev).in_use, sys0 = memory_stats(dev).num_system_allocs;
    NvtxScope step_range("leseg::train_step");
    std::optional<NvtxScope> phase(std::in_place, "leseg::forward");
    Tensor l = forward_loss();
    // what the forward keeps for the backward (activations, kernel maps, autocast weight copies) on top of `base`
    fwd_mib = std::max(fwd_mib, double(memory_stats(dev).in_use - base) / (1 << 20));
    opt.zero_grad();
    phase.emplace("leseg::backward");
    l.backward();
    phase.emplace("leseg::optimizer");
    opt.step();
    phase.reset();
    loss = l.item_double();
    synchronize(dev);
    peak_mib = std::max(peak_mib, double(memory_stats(dev).peak - base) / (1 << 20));
    sys_allocs += double(memory_stats(dev).num_system_allocs - sys0);
    cpu_s += process_cpu_s() - c0;
    minflt += minor_faults() - f0;
  }
  st.counters["voxels"] = double(r.coords.size(0));
  st.counters["voxel_cm"] = r.voxel_size * 100;
  st.counters["peak_MiB"] = peak_mib;
  st.counters["fwd_kept_MiB"] = fwd_mib;
  st.counters["params_M"] = double(models::parameter_count(*b.module)) / 1e6;
  st.counters["loss"] = loss;
  // CPU time of the whole process (every thread) per step, and per voxel: does not depend on the machine's load
  // the way wall time does (a descheduled thread costs wall time, not CPU time)
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  st.counters["rss_peak_MiB"] = double(ru.ru_maxrss) / 1024.0;  // the process's peak so far (all rows before too)
  st.counters["reserved_MiB"] = double(memory_stats(dev).reserved) / (1 << 20);
  // allocations the caching allocator could not serve from its cache, per timed step (fresh pages: page faults)
  st.counters["sys_allocs/step"] = sys_allocs / double(std::max<int64_t>(1, st.iterations()));
  // minor page faults per timed step (fresh pages the kernel zeroes: the cost the caching allocator is there to avoid)
  st.counters["minflt/step"] = minflt / double(std::max<int64_t>(1, st.iterations()));
  st.counters["cpu_s/step"] = cpu_s / double(std::max<int64_t>(1, st.iterations()));
  st.counters["cpu_us/voxel"] = 1e6 * cpu_s / double(std::max<int64_t>(1, st.iterations())) / double(r.coords.size(0));
  st.counters["voxels/s"] = benchmark::Counter(double(r.coords.size(0)) * st.iterations(), benchmark::Counter::kIsRate);
}

int register_all() {
  for (const char* name : {"MinkUNet14A", "MinkUNet34C", "SPVCNN"}) {
    benchmark::RegisterBenchmark((std::string("TrainStep/cpu/") + name).c_str(),
                                 [name](benchmark::State& s) { BM_TrainStep(s, name, Device::cpu()); })
        ->Arg(100000)->Arg(200000)->ArgNames({"voxels"})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    // cost per voxel from 10k to 1M voxels (issue 18): cpu_us/voxel should stay flat (one step after the warm-up:
    // a 1M step takes a minute of CPU)
    if (std::string(name) == "MinkUNet14A")
      benchmark::RegisterBenchmark((std::string("TrainStepScale/cpu/") + name).c_str(),
                                   [name](benchmark::State& s) { BM_TrainStep(s, name, Device::cpu()); })
          ->Arg(10000)->Arg(100000)->Arg(1000000)->ArgNames({"voxels"})->Iterations(1)->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    // every precision on the CPU (emulated roundings: the peak memory and the path, not the speed)
    for (Precision p : {Precision::f32, Precision::tf32, Precision::bf16, Precision::f16})
      benchmark::RegisterBenchmark((std::string("TrainStepPrecision/cpu/") + name + "/" + precision_name(p)).c_str(),
                                   [name, p](benchmark::State& s) { BM_TrainStep(s, name, Device::cpu(), p); })
          ->Arg(100000)->ArgNames({"voxels"})->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
    if (cuda_available())
      benchmark::RegisterBenchmark((std::string("TrainStep/cuda/") + name).c_str(),
                                   [name](benchmark::State& s) { BM_TrainStep(s, name, Device::cuda()); })
          ->Arg(100000)->Arg(200000)->ArgNames({"voxels"})->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
    if (!cuda_available()) continue;
    // per precision and conv variant (docs/sparse-conv.md): "auto" = per-layer autotune on the first step
    for (Precision p : {Precision::f32, Precision::tf32, Precision::bf16, Precision::f16}) {
      std::vector<std::optional<ConvVariant>> vs{std::nullopt};
      for (ConvVariant v : kernels::kAllConvVariants)
        if (conv_variant_ineligible(v, p == Precision::bf16 ? DType::bf16 : p == Precision::f16 ? DType::f16 : DType::f32,
                                    p == Precision::tf32, 8, false).empty())
          vs.push_back(v);
      for (auto v : vs) {
        const std::string row = std::string("TrainStepVariant/cuda/") + name + "/" + precision_name(p) + "/" +
                                (v ? kernels::conv_variant_name(*v) : "auto");
        benchmark::RegisterBenchmark(row.c_str(), [name, p, v](benchmark::State& s) {
          BM_TrainStep(s, name, Device::cuda(), p, v, true);
        })->Arg(100000)->Arg(200000)->ArgNames({"voxels"})->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
      }
    }
  }
  return 0;
}
const int registered = register_all();

}  // namespace
