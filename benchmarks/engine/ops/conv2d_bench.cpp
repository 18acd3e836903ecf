// SPDX-License-Identifier: Apache-2.0
// conv2d throughput (FLOP/s, f32) on ResNet / DeepLabV3 layers for a 240×320 crop (ScanNet images in CNS):
// stem 7×7/2, layer1 3×3, layer3 dilated 3×3 (OS 8), a ResNet-50 1×1, an ASPP branch (rate 12) of ResNet-18;
// forward alone (2·N·C_out·K·P FLOPs, K = C_in·KH·KW, P = output pixels) and forward + backward (3×: dx and dW).
// Plus the bilinear upsampling of 256-d features 30×40 -> 240×320 (bytes: read + write). CPU always; CUDA
// (cuDNN, or im2col + cuBLAS when cuDNN is absent) when a device answers.
#include <benchmark/benchmark.h>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"

namespace {
using namespace leseg;

struct Layer {
  const char* name;
  int64_t n, ci, h, w, co, k, stride, pad, dil;
};
const Layer kLayers[] = {
    {"stem_3to64_k7s2_240x320", 1, 3, 240, 320, 64, 7, 2, 3, 1},
    {"layer1_64to64_k3_60x80", 1, 64, 60, 80, 64, 3, 1, 1, 1},
    {"layer3_256to256_k3d2_30x40", 1, 256, 30, 40, 256, 3, 1, 2, 2},
    {"r50_1x1_1024to256_30x40", 1, 1024, 30, 40, 256, 1, 1, 0, 1},
    {"aspp_512to256_k3d12_30x40", 1, 512, 30, 40, 256, 3, 1, 12, 12},
};

double conv_flops(const Layer& l) {
  const int64_t ho = (l.h + 2 * l.pad - l.dil * (l.k - 1) - 1) / l.stride + 1;
  const int64_t wo = (l.w + 2 * l.pad - l.dil * (l.k - 1) - 1) / l.stride + 1;
  return 2.0 * double(l.n) * double(l.co) * double(l.ci * l.k * l.k) * double(ho * wo);
}

void BM_conv2d(benchmark::State& st, Device d, Layer l, bool backward) {
  Generator g(1);
  Tensor x = randn(Shape{l.n, l.ci, l.h, l.w}, g, DType::f32, d);
  Tensor w = randn(Shape{l.co, l.ci, l.k, l.k}, g, DType::f32, d);
  if (backward) x.requires_grad_(), w.requires_grad_();
  Tensor gy;
  for (auto _ : st) {
    Tensor y = conv2d(x, w, Tensor(), l.stride, l.pad, l.dil);
    if (backward) {
      if (!gy.defined()) gy = randn(y.shape(), g, DType::f32, d);
      y.backward(gy);
      x.zero_grad(), w.zero_grad();
    }
    synchronize(d);
  }
  st.counters["FLOP/s"] = benchmark::Counter(double(st.iterations()) * conv_flops(l) * (backward ? 3 : 1),
                                             benchmark::Counter::kIsRate);
}

void BM_upsample(benchmark::State& st, Device d, int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow) {
  Generator g(2);
  Tensor x = randn(Shape{1, c, h, w}, g, DType::f32, d);
  for (auto _ : st) {
    Tensor y = interpolate_bilinear(x, Size2(oh, ow), false);
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * c * (h * w + oh * ow) * 4);
}

void register_all(Device d, const std::string& tag) {
  auto reg = [](const std::string& name, auto fn, auto... args) {
    benchmark::RegisterBenchmark(name.c_str(), fn, args...)->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  for (const Layer& l : kLayers) {
    reg("conv2d_fwd/" + tag + "/" + l.name, BM_conv2d, d, l, false);
    reg("conv2d_fwd_bwd/" + tag + "/" + l.name, BM_conv2d, d, l, true);
  }
  reg("upsample_bilinear/" + tag + "/256x30x40_to_240x320", BM_upsample, d, int64_t(256), int64_t(30), int64_t(40),
      int64_t(240), int64_t(320));
}

const int registered = [] {
  register_all(Device::cpu(), "cpu");
  if (cuda_available()) register_all(Device::cuda(), "cuda");
  return 0;
}();
}  // namespace
