// SPDX-License-Identifier: Apache-2.0
// Module::to(cuda) moves parameters, gradients and buffers in place (same TensorImpl), and an MLP gives
// the same outputs and gradients on CUDA as on CPU.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/nn/layers.h"
#include "engine/ops/reduce.h"

using namespace leseg;

TEST(ModuleGpu, ToCudaKeepsIdentityAndMatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  Generator g1(4), g2(4);
  MLPOptions o;
  o.norm = Norm::batch_norm;
  MLP cpu({3, 17, 5}, g1, o), gpu({3, 17, 5}, g2, o);
  Tensor w = gpu.parameters()[0];
  w.set_grad(ones_like(w));
  gpu.to(Device::cuda());
  EXPECT_TRUE(w.device().is_cuda());
  EXPECT_TRUE(w.same(gpu.parameters()[0]));
  EXPECT_TRUE(w.grad().device().is_cuda());
  for (auto& [n, b] : gpu.named_buffers()) EXPECT_TRUE(b.device().is_cuda()) << n;
  gpu.zero_grad();
  Tensor x = Tensor::randn(Shape{29, 3}, 8);
  Tensor yc = cpu(x), yg = gpu(x.to(Device::cuda()));
  sum(yc).backward();
  sum(yg).backward();
  auto a = yg.to_vector<float>(), b = yc.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 + 1e-4 * std::abs(b[i])) << i;
  auto pc = cpu.named_parameters(), pg = gpu.named_parameters();
  for (size_t k = 0; k < pc.size(); ++k) {
    auto gc = pc[k].second.grad().to_vector<float>(), gg = pg[k].second.grad().to_vector<float>();
    for (size_t i = 0; i < gc.size(); ++i) EXPECT_NEAR(gg[i], gc[i], 1e-4 + 1e-4 * std::abs(gc[i])) << pc[k].first << " " << i;
  }
  gpu.to(Device::cpu());
  EXPECT_TRUE(w.device().is_cpu());
}
