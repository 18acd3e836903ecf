// SPDX-License-Identifier: Apache-2.0
// Sparse conv benchmarks at ScanNet-like sizes: a synthetic room (floor, walls, boxes as furniture) voxelised at
// 2 cm, ~100k and ~1M voxels. Reports voxels/s and effective FLOP/s = 2 * pairs * C_in * C_out per pass.
//   BM_KernelMap/<voxels>             hash table + submanifold 3x3x3 map build (10k / 100k / 1M voxels)
//   BM_KernelMapOnly/<voxels>         the map build alone (coordinate set and hash table built outside the timing):
//                                     neighbours + counts + pair lists (+ the neighbour matrix inversion for the
//                                     fused variants: .../nbr)
//   BM_ConvForward/<voxels>/<C>       submanifold K=3, C_in = C_out = C      (CPU; CUDA per variant)
//   BM_ConvBackward/<voxels>/<C>      input + weight gradients
//   BM_ConvOrder/cpu/<order>/<C>/<fwd|bwd>   the harness's room (benchmarks/common/synthetic_room.h, ~108k voxels in
//                                     the first-point order voxelize gives) as given, Morton-sorted and shuffled:
//                                     how much the CPU conv depends on the voxels' storage order (gather locality)
//   BM_Layer/<dev>/<variant>/<precision>/<kind>/K<k>/<voxels>/<C>/<fwd|bwd>   per-layer rows: kind subm (K 3),
//                                     strided (K 2 / 3), transposed (K 2); C 32..256; precision f32 / tf32 / bf16 /
//                                     f16 (CPU: f32 and the emulated bf16 twin). FLOP/s = passes * 2 * pairs * C^2.
// CUDA rows are registered only when a device is present (docs/sparse-conv.md lists what waits for one).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <unordered_set>

#include "engine/autograd.h"
#include "engine/precision.h"
#include "engine/sparse/conv_autotune.h"
#include "engine/sparse/coordinate_manager.h"
#include "engine/sparse/sparse_ops.h"
#include "benchmarks/common/synthetic_room.h"
#include "kernels/coord_hash/coord_hash_math.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

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

void BM_KernelMapOnly(benchmark::State& st, Device d, bool with_nbr) {
  Tensor c = room_coords(st.range(0)).to(d);
  int64_t pairs = 0;
  for (auto _ : st) {
    st.PauseTiming();
    SparseTensor x(c, Tensor::empty(Shape{c.size(0), 1}, DType::f32, d), 1, 1);  // hash table: not timed
    synchronize(d);
    st.ResumeTiming();
    auto km = x.manager()->kernel_map(1, 1, 3, 1);
    if (with_nbr) (void)km->conv_map(false, true);
    pairs = km->num_pairs();
    synchronize(d);
  }
  set_counters(st, c.size(0), pairs, 0, 0, 0);
  st.counters.erase("FLOP/s");
}

// One layer in a precision and variant. kind: 0 submanifold, 1 strided, 2 transposed (input = the strided output).
void BM_Layer(benchmark::State& st, Device d, ConvVariant v, Precision prec, int kind, int K, bool backward) {
  Tensor c = room_coords(st.range(0)).to(d);
  const int64_t C = st.range(1), n = c.size(0), V = int64_t(K) * K * K;
  PrecisionScope ps(prec);
  SparseTensor fine(c, Tensor::randn(Shape{n, C}, 1).to(d), 1, 1);
  SparseTensor x = fine;
  if (kind == 2) {
    PrecisionScope f32(Precision::f32);
    NoGradGuard ng;
    SparseTensor down = sparse_conv3d(fine, Tensor::randn(Shape{8, C, C}, 4).to(d), Tensor(), {2, 2, 1, false});
    x = down.with_feats(Tensor::randn(Shape{down.size(), C}, 5).to(d));
  }
  SparseConvOptions opt{K, kind == 0 ? 1 : 2, 1, kind == 2, v};
  Tensor w = Tensor::randn(Shape{V, C, C}, 2).to(d);
  std::shared_ptr<const KernelMap> km = kind == 0   ? x.manager()->kernel_map(1, 1, K, 1)
                                        : kind == 1 ? x.manager()->kernel_map(1, 2, K, 1)
                                                    : x.manager()->kernel_map(1, 2, K, 1);
  const int64_t pairs = km->num_pairs();
  { NoGradGuard ng; (void)sparse_conv3d(x, w, Tensor(), opt); synchronize(d); }  // warm-up: maps, orders, masks
  int64_t n_out = 0;
  if (backward) {
    Tensor xf = x.feats().detach().requires_grad_();
    w.requires_grad_();
    for (auto _ : st) {
      st.PauseTiming();
      SparseTensor y = sparse_conv3d(x.with_feats(xf), w, Tensor(), opt);
      Tensor g = Tensor::ones(y.feats().shape(), y.feats().dtype(), d);
      n_out = y.size();
      synchronize(d);
      st.ResumeTiming();
      y.feats().backward(g);
      synchronize(d);
    }
  } else {
    NoGradGuard ng;
    for (auto _ : st) {
      SparseTensor y = sparse_conv3d(x, w, Tensor(), opt);
      n_out = y.size();
      benchmark::DoNotOptimize(y.feats().data_ptr());
      synchronize(d);
    }
  }
  set_counters(st, std::max<int64_t>(x.size(), n_out), pairs, C, C, backward ? 2.0 : 1.0);
  st.counters["K"] = K;
}

void register_layers(Device d, const std::vector<ConvVariant>& variants, const std::vector<Precision>& precs,
                     const std::vector<int64_t>& channels, bool cuda) {
  struct KindK { int kind, K; const char* name; };
  for (ConvVariant v : variants)
    for (Precision p : precs) {
      const DType dt = p == Precision::bf16 ? DType::bf16 : p == Precision::f16 ? DType::f16 : DType::f32;
      if (cuda && !conv_variant_ineligible(v, dt, p == Precision::tf32, 8, false).empty()) continue;
      for (const KindK kk : {KindK{0, 3, "subm"}, KindK{1, 2, "strided"}, KindK{1, 3, "strided"},
                             KindK{2, 2, "transposed"}})
        for (bool bwd : {false, true}) {
          const std::string name = std::string("BM_Layer/") + (cuda ? "cuda/" : "cpu/") +
                                   kernels::conv_variant_name(v) + "/" + precision_name(p) + "/" + kk.name + "/K" +
                                   std::to_string(kk.K) + (bwd ? "/bwd" : "/fwd");
          auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Layer, d, v, p, kk.kind, kk.K, bwd);
          for (int64_t C : channels) b->Args({100000, C});
          if (cuda) b->Args({1000000, 64})->MinTime(0.1); else b->Iterations(1);
          b->ArgNames({"voxels", "C"})->UseRealTime()->Unit(benchmark::kMillisecond);
        }
    }
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

// The harness's ~108k-voxel room with its rows in one of three orders: 0 as voxelize gives them, 1 Morton, 2 shuffled.
const Tensor& ordered_room(int order) {
  static std::map<int, Tensor> cache;
  if (auto it = cache.find(order); it != cache.end()) return it->second;
  static const Tensor given = bench::voxelize_room(bench::dense_room_scene(), 100000, 0.05).coords;
  const int64_t n = given.size(0);
  std::vector<int32_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = int32_t(i);
  if (order == 1) kernels::morton_order_cpu(given.data<int32_t>(), n, 1, perm.data());
  if (order == 2) std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
  const int32_t* g = given.data<int32_t>();
  std::vector<int32_t> c(static_cast<size_t>(4 * n));
  for (int64_t i = 0; i < n; ++i)
    for (int d = 0; d < 4; ++d) c[size_t(4 * i + d)] = g[4 * int64_t(perm[size_t(i)]) + d];
  return cache[order] = Tensor::from_vector<int32_t>(c, Shape{n, 4});
}

void BM_ConvOrder(benchmark::State& st, int order, bool backward) {
  const Tensor& c = ordered_room(order);
  const int64_t C = st.range(0), n = c.size(0);
  SparseTensor x(c, Tensor::randn(Shape{n, C}, 1), 1, 1);
  Tensor w = Tensor::randn(Shape{27, C, C}, 2);
  Tensor g = Tensor::randn(Shape{n, C}, 3);
  SparseConvOptions opt{3, 1, 1, false, ConvVariant::GatherGemmScatter};
  const int64_t pairs = x.manager()->kernel_map(1, 1, 3, 1)->num_pairs();
  { NoGradGuard ng; (void)sparse_conv3d(x, w, Tensor(), opt); }  // warm-up: maps and neighbour tables
  Tensor xf = x.feats().detach().requires_grad_();
  if (backward) w.requires_grad_();
  for (auto _ : st) {
    if (backward) {  // the backward alone
      st.PauseTiming();
      SparseTensor y = sparse_conv3d(x.with_feats(xf), w, Tensor(), opt);
      st.ResumeTiming();
      y.feats().backward(g);
    } else {
      NoGradGuard ng;
      SparseTensor y = sparse_conv3d(x, w, Tensor(), opt);
      benchmark::DoNotOptimize(y.feats().data_ptr());
    }
  }
  set_counters(st, n, pairs, C, C, backward ? 2.0 : 1.0);
}

int register_all() {
  const Device cpu = Device::cpu();
  benchmark::RegisterBenchmark("BM_KernelMap/cpu", BM_KernelMap, cpu)
      ->Arg(10000)->Arg(100000)->Arg(1000000)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_KernelMapOnly/cpu", BM_KernelMapOnly, cpu, false)
      ->Arg(10000)->Arg(100000)->Arg(1000000)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  register_layers(cpu, {ConvVariant::GatherGemmScatter}, {Precision::f32, Precision::bf16}, {32, 64}, false);
  for (int order : {0, 1, 2})
    for (bool bwd : {false, true})
      benchmark::RegisterBenchmark((std::string("BM_ConvOrder/cpu/") + (order == 0 ? "given" : order == 1 ? "morton" : "shuffled") +
                                    (bwd ? "/bwd" : "/fwd")).c_str(), BM_ConvOrder, order, bwd)
          ->Arg(32)->Arg(64)->ArgName("C")->Iterations(5)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (bool bwd : {false, true})
    benchmark::RegisterBenchmark(bwd ? "BM_ConvBackward/cpu" : "BM_ConvForward/cpu", BM_Conv, cpu,
                                 ConvVariant::GatherGemmScatter, bwd)
        ->Args({100000, 32})->Args({100000, 64})->Args({100000, 128})->Args({1000000, 32})
        ->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  if (cuda_available()) {
    const Device gpu = Device::cuda();
    benchmark::RegisterBenchmark("BM_KernelMap/cuda", BM_KernelMap, gpu)
        ->Arg(10000)->Arg(100000)->Arg(1000000)->MinTime(0.2)->UseRealTime()->Unit(benchmark::kMillisecond);
    for (bool nbr : {false, true})
      benchmark::RegisterBenchmark(nbr ? "BM_KernelMapOnly/cuda/nbr" : "BM_KernelMapOnly/cuda", BM_KernelMapOnly, gpu,
                                   nbr)
          ->Arg(10000)->Arg(100000)->Arg(1000000)->MinTime(0.2)->UseRealTime()->Unit(benchmark::kMillisecond);
    register_layers(gpu, std::vector<ConvVariant>(std::begin(kernels::kAllConvVariants), std::end(kernels::kAllConvVariants)),
                    {Precision::f32, Precision::tf32, Precision::bf16, Precision::f16}, {32, 64, 128, 256}, true);
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
