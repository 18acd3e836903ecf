// SPDX-License-Identifier: Apache-2.0
// CPU-vs-CUDA parity of the optimizer kernels through the engine (SGD, AdamW, EMA, clip_grad_norm_).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/optim/adam.h"
#include "engine/optim/clip_grad.h"
#include "engine/optim/ema.h"
#include "engine/optim/sgd.h"

using namespace leseg;

namespace {
void expect_close(const std::vector<float>& a, const std::vector<float>& ref, float atol, float rtol) {
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(a[i] - ref[i]) <= atol + rtol * std::abs(ref[i])) && bad++ < 5)
      ADD_FAILURE() << "element " << i << ": cuda " << a[i] << " vs cpu " << ref[i];
}
}  // namespace

TEST(OptimGpu, SgdAdamwEmaClipMatchCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const int64_t n = 100003;
  for (int kind = 0; kind < 2; ++kind) {
    Tensor pc = Tensor::randn(Shape{n}, 1);
    Tensor pg = pc.to(Device::cuda());
    pc.requires_grad_(true);
    pg.requires_grad_(true);
    ParamGroup h;
    h.lr = 0.01;
    h.momentum = 0.9;
    h.weight_decay = 0.01;
    std::unique_ptr<Optimizer> oc, og;
    if (kind == 0) {
      oc = std::make_unique<SGD>(std::vector<Tensor>{pc}, h);
      og = std::make_unique<SGD>(std::vector<Tensor>{pg}, h);
    } else {
      oc = std::make_unique<AdamW>(std::vector<Tensor>{pc}, h);
      og = std::make_unique<AdamW>(std::vector<Tensor>{pg}, h);
    }
    for (int s = 0; s < 3; ++s) {
      Tensor g = Tensor::randn(Shape{n}, 10 + s);
      pc.set_grad(g);
      pg.set_grad(g.to(Device::cuda()));
      double nc = clip_grad_norm_({pc}, 100.0), ng = clip_grad_norm_({pg}, 100.0);
      EXPECT_NEAR(ng, nc, 1e-9 * nc);
      oc->step();
      og->step();
    }
    expect_close(pg.to_vector<float>(), pc.to_vector<float>(), 1e-6f, 1e-5f);
  }
  Tensor tc = Tensor::randn(Shape{n}, 2), sc = Tensor::randn(Shape{n}, 3);
  Tensor tg = tc.to(Device::cuda()), sg = sc.to(Device::cuda());
  ema_update({tc}, {sc}, 0.99);
  ema_update({tg}, {sg}, 0.99);
  expect_close(tg.to_vector<float>(), tc.to_vector<float>(), 1e-7f, 1e-6f);
}
