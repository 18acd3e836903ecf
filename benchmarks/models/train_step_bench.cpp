// SPDX-License-Identifier: Apache-2.0
// One supervised training step (forward + CE on a classifier head + backward + SGD step) for MinkUNet14A and
// MinkUNet34C on a ScanNet-like synthetic room voxelised to ~100k (and ~200k) voxels. Reports the step time,
// the voxel count and the engine's peak memory during the step (memory_stats of the device, in MiB).
// CPU always; CUDA variants only when a device answers. Few iterations: a CPU step takes seconds.
#include <optional>
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>

#include "engine/nvtx.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/ops/losses.h"
#include "engine/optim/sgd.h"
#include "engine/sparse/sparse_ops.h"
#include "io/synthetic/generator.h"
#include "models/heads.h"
#include "models/registry.h"

using namespace leseg;

namespace {

struct Room {
  Tensor coords, feats, labels;  // (M, 4) i32, (M, 3) f32 RGB/127.5 - 1, (M,) i64 (-1 ignore)
  double voxel_size = 0;
};

// A dense synthetic room; the voxel size shrinks by 10% steps from 5 cm until >= target voxels.
const Room& room(int64_t target) {
  static std::map<int64_t, Room> cache;
  auto it = cache.find(target);
  if (it != cache.end()) return it->second;
  static const io::Scene scene = [] {
    io::synth::IndoorOptions o;
    o.num_views = 0;
    o.geometric_segments = false;
    o.point_density = 6000;
    return io::synth::generate_indoor_scene(3, io::synth::indoor_dataset_info().text_embeddings, o);
  }();
  const int64_t n = scene.num_points();
  Tensor batch = Tensor::zeros(Shape{n}, DType::i32);
  Tensor rgb = scene.colors.to(DType::f32);
  Tensor feats = Tensor::empty(Shape{n, 3});
  {
    const float* c = rgb.data<float>();
    float* f = feats.data<float>();
    for (int64_t i = 0; i < 3 * n; ++i) f[i] = c[i] / 127.5f - 1.f;
  }
  Room r;
  for (double vs = 0.05; vs > 0.002; vs *= 0.9) {
    Voxelized v = voxelize(scene.coords, batch, feats, vs, VoxelReduce::First);
    if (v.voxels.size() < target) continue;
    r.voxel_size = vs;
    r.coords = v.voxels.coords().clone();
    r.feats = v.voxels.feats().detach().clone();
    const auto inv = v.inverse.to_vector<int32_t>();
    const auto lab = scene.labels.to_vector<int32_t>();
    std::vector<int64_t> vl(size_t(v.voxels.size()), -2);
    for (int64_t i = 0; i < n; ++i)
      if (vl[size_t(inv[i])] == -2) vl[size_t(inv[i])] = lab[size_t(i)];  // first point's label
    r.labels = Tensor::from_vector(vl, Shape{int64_t(vl.size())});
    break;
  }
  LESEG_CHECK(r.coords.defined(), "train_step_bench: the room has fewer than ", target, " voxels at any size");
  return cache.emplace(target, std::move(r)).first->second;
}

void BM_TrainStep(benchmark::State& st, const std::string& name, Device dev) {
  const Room& r = room(st.range(0));
  models::ModelOptions o;
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
  double peak_mib = 0, loss = 0;
  for (auto _ : st) {
    reset_peak_memory(dev);
    const size_t base = memory_stats(dev).in_use;
    NvtxScope step_range("leseg::train_step");
    std::optional<NvtxScope> phase(std::in_place, "leseg::forward");
    SparseTensor x(coords, feats);  // a fresh manager per step, as the loader gives
    Tensor logits = head->forward(b.minkunet->forward(x).feats());
    Tensor l = cross_entropy(logits, labels);
    opt.zero_grad();
    phase.emplace("leseg::backward");
    l.backward();
    phase.emplace("leseg::optimizer");
    opt.step();
    phase.reset();
    loss = l.item_double();
    synchronize(dev);
    peak_mib = std::max(peak_mib, double(memory_stats(dev).peak - base) / (1 << 20));
  }
  st.counters["voxels"] = double(r.coords.size(0));
  st.counters["voxel_cm"] = r.voxel_size * 100;
  st.counters["peak_MiB"] = peak_mib;
  st.counters["params_M"] = double(models::parameter_count(*b.module)) / 1e6;
  st.counters["loss"] = loss;
  st.counters["voxels/s"] = benchmark::Counter(double(r.coords.size(0)) * st.iterations(), benchmark::Counter::kIsRate);
}

int register_all() {
  for (const char* name : {"MinkUNet14A", "MinkUNet34C"}) {
    benchmark::RegisterBenchmark((std::string("TrainStep/cpu/") + name).c_str(),
                                 [name](benchmark::State& s) { BM_TrainStep(s, name, Device::cpu()); })
        ->Arg(100000)->Arg(200000)->ArgNames({"voxels"})->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();
    if (cuda_available())
      benchmark::RegisterBenchmark((std::string("TrainStep/cuda/") + name).c_str(),
                                   [name](benchmark::State& s) { BM_TrainStep(s, name, Device::cuda()); })
          ->Arg(100000)->Arg(200000)->ArgNames({"voxels"})->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}
const int registered = register_all();

}  // namespace
