// SPDX-License-Identifier: Apache-2.0
// Method components at training sizes: SAAF forward+backward (points/s, attention FLOP/s), SAM-mask refinement
// of a 240x320 view (pixels/s), HICL proportional sampling of M = 1024 from 100k points (points/s), ERDA
// prototype step + loss forward/backward (points/s), pixel->point label projection over 16 views (pairs/s).
// CPU always; CUDA variants only when a device is present.
#include <benchmark/benchmark.h>

#include "engine/device.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "train/components/cns.h"
#include "train/components/common.h"
#include "train/components/erda.h"
#include "train/components/hicl.h"
#include "train/components/lass3d.h"

using namespace leseg;
using namespace leseg::train;

namespace {

Device dev_of(const benchmark::State& st) { return st.range(1) ? Device::cuda() : Device::cpu(); }

void BM_SaafForwardBackward(benchmark::State& st) {
  const int64_t N = st.range(0), C = 20, D = 512, F = 96;
  const Device dev = dev_of(st);
  Generator gen(1);
  lass3d::SaafOptions o;
  o.feat_dim = F;
  o.text_dim = D;
  lass3d::SAAF saaf(o, gen);
  saaf.to(dev);
  std::vector<int64_t> sl, ol;
  for (int64_t p = 0; p < N; ++p) {
    sl.push_back(p); sl.push_back(p % 8);
    ol.push_back(p); ol.push_back(p % 64);
  }
  lass3d::SaafKeys keys = lass3d::build_saaf_keys(
      N, Tensor::randn(Shape{C, D}, 2).to(dev), Tensor::randn(Shape{8, D}, 3).to(dev), Tensor::from_vector(sl, Shape{N, 2}),
      Tensor::randn(Shape{64, D}, 4).to(dev), Tensor::from_vector(ol, Shape{N, 2}));
  Tensor f = Tensor::randn(Shape{N, F}, 5, 0, DType::f32, dev).requires_grad_(true);
  const double K = double(C + 2);
  for (auto _ : st) {
    Tensor y = saaf.forward(f, keys);
    sum(y).backward();
    benchmark::DoNotOptimize(f.grad().data_ptr());
    if (dev.is_cuda()) synchronize(dev);
  }
  st.SetItemsProcessed(st.iterations() * N);
  // attention: QKᵀ and PV, forward 2·2·N·K·A, backward about twice that
  st.counters["FLOP/s"] = benchmark::Counter(double(st.iterations()) * 3.0 * 4.0 * double(N) * K * double(o.attn_dim),
                                             benchmark::Counter::kIsRate);
}

void BM_MaskRefine(benchmark::State& st) {
  const int64_t H = 240, W = 320, C = 20;
  const Device dev = dev_of(st);
  std::vector<int64_t> lab(H * W), mask(H * W);
  for (int64_t i = 0; i < H * W; ++i) {
    lab[size_t(i)] = (i * 2654435761u >> 7) % (C + 1) - 1;
    mask[size_t(i)] = (i / W) / 16 * 20 + (i % W) / 16;  // 300 masks
  }
  Tensor L = Tensor::from_vector(lab, Shape{H, W}, dev), M = Tensor::from_vector(mask, Shape{H, W}, dev);
  for (auto _ : st) benchmark::DoNotOptimize(cns::refine_by_masks(L, M, C).data_ptr());
  st.SetItemsProcessed(st.iterations() * H * W);
  st.SetBytesProcessed(st.iterations() * H * W * 24);
}

void BM_HiclSample(benchmark::State& st) {
  const int64_t N = 100000;
  std::vector<int64_t> sets(N), labels(N);
  for (int64_t i = 0; i < N; ++i) {
    sets[size_t(i)] = (i * 7) % 1000;
    labels[size_t(i)] = i % 5 == 0 ? -1 : i % 20;
  }
  Tensor S = Tensor::from_vector(sets, Shape{N}), L = Tensor::from_vector(labels, Shape{N});
  Generator gen(3);
  for (auto _ : st) benchmark::DoNotOptimize(hicl::sample_scene(S, L, 1024, gen).data_ptr());
  st.SetItemsProcessed(st.iterations() * N);
}

void BM_ErdaStepLoss(benchmark::State& st) {
  const int64_t N = st.range(0), d = 96, C = 13;
  const Device dev = dev_of(st);
  Generator gen(4);
  erda::ProjectionMLP2 proj(d, gen);
  erda::PrototypeOptions po;
  po.num_classes = C;
  po.dim = d;
  erda::PrototypeMemory mem(po, gen);
  proj.to(dev);
  mem.to(dev);
  std::vector<int64_t> lab(N, -1);
  for (int64_t i = 0; i < N; i += 100) lab[size_t(i)] = i % C;
  Tensor L = Tensor::from_vector(lab, Shape{N}, dev);
  Tensor rows = erda::unlabelled_rows(L);
  Tensor x = Tensor::randn(Shape{N, d}, 5, 0, DType::f32, dev), z = Tensor::randn(Shape{N, C}, 6, 0, DType::f32, dev);
  z.requires_grad_(true);
  for (auto _ : st) {
    Tensor s = mem.step(proj.forward(x), L);
    erda::erda_loss(z, s, rows, {}).backward();
    if (dev.is_cuda()) synchronize(dev);
  }
  st.SetItemsProcessed(st.iterations() * N);
}

void BM_ProjectPixelLabels(benchmark::State& st) {
  const int64_t N = 100000, H = 240, W = 320, V = 16, C = 20;
  std::vector<Tensor> pairs, labels;
  int64_t total = 0;
  for (int64_t v = 0; v < V; ++v) {
    std::vector<int64_t> p, l(H * W);
    for (int64_t i = 0; i < H * W; ++i) l[size_t(i)] = (i + v) % (C + 1) - 1;
    for (int64_t i = v; i < N; i += 4) { p.push_back(i); p.push_back((i * 31 + v) % (H * W)); }
    total += int64_t(p.size() / 2);
    pairs.push_back(Tensor::from_vector(p, Shape{int64_t(p.size() / 2), 2}));
    labels.push_back(Tensor::from_vector(l, Shape{H, W}));
  }
  const ViewReduce r = st.range(0) ? ViewReduce::first : ViewReduce::mode;
  for (auto _ : st) benchmark::DoNotOptimize(project_pixel_labels(N, pairs, labels, C, r).data_ptr());
  st.SetItemsProcessed(st.iterations() * total);
}

void register_all() {
  const bool gpu = cuda_available();
  for (int64_t g : {0, 1}) {
    if (g && !gpu) continue;
    benchmark::RegisterBenchmark("saaf_fwd_bwd", BM_SaafForwardBackward)->Args({20000, g})->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("mask_refine_240x320", BM_MaskRefine)->Args({0, g})->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("erda_step_loss", BM_ErdaStepLoss)->Args({50000, g})->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  benchmark::RegisterBenchmark("hicl_sample_1024_of_100k", BM_HiclSample)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("project_labels_16views_100k", BM_ProjectPixelLabels)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}
const int registered = (register_all(), 0);

}  // namespace
