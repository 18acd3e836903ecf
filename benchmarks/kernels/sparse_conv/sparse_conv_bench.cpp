// SPDX-License-Identifier: Apache-2.0
// Sparse conv benchmarks at ScanNet-like sizes: a synthetic room (floor, walls, boxes as furniture) voxelised at
// 2 cm, ~100k and ~1M voxels. Reports voxels/s and effective FLOP/s = 2 * pairs * C_in * C_out per pass.
//   BM_KernelMap/<voxels>             hash table + submanifold 3x3x3 map build
//   BM_ConvForward/<voxels>/<C>       submanifold K=3, C_in = C_out = C      (CPU; CUDA per variant)
//   BM_ConvBackward/<voxels>/<C>      input + weight gradients
// CUDA variants are registered only when a device is present.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <unordered_set>

#include "engine/autograd.h"
#include "engine/sparse/sparse_ops.h"
#include "kernels/coord_hash/coord_hash_math.h"

using namespace leseg;

namespace {

// Room surface voxels: size chosen so that the count is close to `target`.
const Tensor& room_coords(int64_t target) {
  static std::map<int64_t, Tensor> cache;
  if (auto it = cache.find(target); it != cache.end()) return it->second;
  // surface area ~ 2 L^2 + 4 L H (H = L / 2.5) in voxels^2 -> L from target
  const double L = std::sqrt(double(target) / (2.0 + 4.0 / 2.5)) * 0.93;
  const int32_t nx = int32_t(L), ny = int32_t(L * 0.8), nz = int32_t(L / 2.5);
  std::unordered_set<uint64_t> seen;
  std::vector<int32_t> c;
  auto add = [&](int32_t x, int32_t y, int32_t z) {
    if (seen.insert(kernels::coord::pack_xyz(x, y, z)).second) c.insert(c.end(), {0, x, y, z});
  };
  for (int32_t x = 0; x < nx; ++x)
    for (int32_t y = 0; y < ny; ++y) add(x, y, 0), add(x, y, nz);
  for (int32_t z = 0; z <= nz; ++z) {
    for (int32_t x = 0; x < nx; ++x) add(x, 0, z), add(x, ny - 1, z);
    for (int32_t y = 0; y < ny; ++y) add(0, y, z), add(nx - 1, y, z);
  }
  std::mt19937 rng(1);
  for (int box = 0; box < 12; ++box) {  // furniture: box surfaces standing on the floor
    const int32_t bx = int32_t(rng() % uint32_t(nx * 3 / 4)), by = int32_t(rng() % uint32_t(ny * 3 / 4));
    const int32_t sx = nx / 10 + int32_t(rng() % uint32_t(nx / 8 + 1)), sy = ny / 10 + int32_t(rng() % uint32_t(ny / 8 + 1));
    const int32_t sz = nz / 4 + int32_t(rng() % uint32_t(nz / 3 + 1));
    for (int32_t x = bx; x < bx + sx; ++x)
      for (int32_t y = by; y < by + sy; ++y) add(x, y, sz);
    for (int32_t z = 1; z < sz; ++z) {
      for (int32_t x = bx; x < bx + sx; ++x) add(x, by, z), add(x, by + sy - 1, z);
      for (int32_t y = by; y < by + sy; ++y) add(bx, y, z), add(bx + sx - 1, y, z);
    }
  }
  const int64_t n = int64_t(c.size() / 4);
  return cache[target] = Tensor::from_vector<int32_t>(c, Shape{n, 4});
}

void set_counters(benchmark::State& st, int64_t voxels, int64_t pairs, int64_t cin, int64_t cout, double passes) {
  st.counters["voxels"] = double(voxels);
  st.counters["pairs"] = double(pairs);
  st.counters["voxels/s"] = benchmark::Counter(double(voxels) * double(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["FLOP/s"] = benchmark::Counter(passes * 2.0 * double(pairs) * double(cin) * double(cout) *
                                                 double(st.iterations()),
                                             benchmark::Counter::kIsRate);
}

void BM_KernelMap(benchmark::State& st, Device d) {
  Tensor c = room_coords(st.range(0)).to(d);
  int64_t pairs = 0;
  for (auto _ : st) {
    SparseTensor x(c, Tensor::empty(Shape{c.size(0), 1}, DType::f32, d), 1, 1);
    auto km = x.manager()->kernel_map(1, 1, 3, 1);
    pairs = km->num_pairs();
    synchronize(d);
  }
  set_counters(st, c.size(0), pairs, 0, 0, 0);
  st.counters.erase("FLOP/s");
}

void BM_Conv(benchmark::State& st, Device d, ConvVariant v, bool backward) {
  Tensor c = room_coords(st.range(0)).to(d);
  const int64_t C = st.range(1), n = c.size(0);
  SparseTensor x(c, Tensor::randn(Shape{n, C}, 1).to(d), 1, 1);
  Tensor w = Tensor::randn(Shape{27, C, C}, 2).to(d);
  Tensor g = Tensor::randn(Shape{n, C}, 3).to(d);
  SparseConvOptions opt{3, 1, 1, false, v};
  const int64_t pairs = x.manager()->kernel_map(1, 1, 3, 1)->num_pairs();  // built once (cached), not timed
  if (backward) {
    Tensor xf = x.feats().detach().requires_grad_();
    w.requires_grad_();
    for (auto _ : st) {
      SparseTensor y = sparse_conv3d(x.with_feats(xf), w, Tensor(), opt);
      st.PauseTiming();  // time only the backward pass
      synchronize(d);
      st.ResumeTiming();
      y.feats().backward(g);
      synchronize(d);
    }
  } else {
    NoGradGuard ng;
    for (auto _ : st) {
      SparseTensor y = sparse_conv3d(x, w, Tensor(), opt);
      benchmark::DoNotOptimize(y.feats().data_ptr());
      synchronize(d);
    }
  }
  set_counters(st, n, pairs, C, C, backward ? 2.0 : 1.0);
}

int register_all() {
  const Device cpu = Device::cpu();
  benchmark::RegisterBenchmark("BM_KernelMap/cpu", BM_KernelMap, cpu)
      ->Arg(100000)->Arg(1000000)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (bool bwd : {false, true})
    benchmark::RegisterBenchmark(bwd ? "BM_ConvBackward/cpu" : "BM_ConvForward/cpu", BM_Conv, cpu,
                                 ConvVariant::GatherGemmScatter, bwd)
        ->Args({100000, 32})->Args({100000, 64})->Args({100000, 128})->Args({1000000, 32})
        ->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  if (cuda_available()) {
    const Device gpu = Device::cuda();
    benchmark::RegisterBenchmark("BM_KernelMap/cuda", BM_KernelMap, gpu)
        ->Arg(100000)->Arg(1000000)->MinTime(0.2)->UseRealTime()->Unit(benchmark::kMillisecond);
    for (ConvVariant v : kernels::kAllConvVariants)
      for (bool bwd : {false, true})
        benchmark::RegisterBenchmark((std::string(bwd ? "BM_ConvBackward/cuda/" : "BM_ConvForward/cuda/") +
                                      kernels::conv_variant_name(v)).c_str(),
                                     BM_Conv, gpu, v, bwd)
            ->ArgsProduct({{100000, 1000000}, {32, 64, 128, 256}})
            ->MinTime(0.2)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
