// SPDX-License-Identifier: Apache-2.0
// Device-side gradient clipping (kernels/clip_grad): CUDA equals the CPU twin to rounding (same chunks and combine
// order; the CUDA chunk is a tree) and repeats bit for bit, reads nothing on the host, and leaves gradients alone below the limit. Skips visibly without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/host_sync.h"
#include "engine/optim/clip_grad.h"
#include "engine/tensor.h"

using namespace leseg;

#define REQUIRE_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason()

namespace {
std::vector<Tensor> params_on(Device d, uint64_t seed) {
  std::vector<Tensor> ps;
  const std::vector<int64_t> sizes = {7, 70000, 1, 200000, 33};  // several norm chunks, and tiny tensors
  for (size_t k = 0; k < sizes.size(); ++k) {
    Tensor p = Tensor::zeros(Shape{sizes[k]}, DType::f32).to(d);
    p.requires_grad_(true);
    p.set_grad(Tensor::randn(Shape{sizes[k]}, seed + k).to(d));
    ps.push_back(p);
  }
  return ps;
}
}  // namespace

TEST(ClipGradGpu, MatchesTheCpuTwinWithoutAHostReadAndRepeatsBitForBit) {
  REQUIRE_CUDA();
  for (double norm_type : {1.0, 2.0, std::numeric_limits<double>::infinity()}) {
    for (double max_norm : {0.5, 1e9}) {
      auto cpu = params_on(Device::cpu(), 11);
      auto gpu = params_on(Device::cuda(), 11);
      const Tensor nc = clip_grad_norm_device_(cpu, max_norm, norm_type);
      HostSyncCounter c;
      Tensor ng;
      {
        SyncFreeRegion r("clip");
        ng = clip_grad_norm_device_(gpu, max_norm, norm_type);
      }
      EXPECT_EQ(c.inside_regions(), 0) << c.report(true);
      // The chunk partials are summed serially on CPU and as a tree on CUDA: equal to rounding, not bit for bit.
      const double a = ng.item<double>(), b = nc.item<double>();
      EXPECT_NEAR(a, b, 1e-12 * b) << "norm " << norm_type;
      for (size_t k = 0; k < cpu.size(); ++k) {
        const auto gg = gpu[k].grad().to_vector<float>(), gc = cpu[k].grad().to_vector<float>();
        for (size_t i = 0; i < gg.size(); ++i) ASSERT_NEAR(gg[i], gc[i], 1e-6f * (1.0f + std::abs(gc[i]))) << k << ":" << i;
      }
      // Repeats on the device are bit-identical (fixed chunks, fixed combine order, no atomics).
      auto again = params_on(Device::cuda(), 11);
      EXPECT_EQ(clip_grad_norm_device_(again, max_norm, norm_type).item<double>(), a);
      for (size_t k = 0; k < again.size(); ++k)
        EXPECT_EQ(again[k].grad().to_vector<float>(), gpu[k].grad().to_vector<float>());
    }
  }
}
