// SPDX-License-Identifier: Apache-2.0
// Autocast on CUDA vs the CPU twin (engine/precision.h): a small conv2d -> batch_norm -> relu -> max_pool ->
// concat -> linear -> cross_entropy chain under bf16 and f16, forward and backward.
//   conv2d and the half GEMM on integer-valued inputs: every f32 accumulation is exact, so the outputs must be
//   identical bits. After batch norm (f32 statistics, a different summation order on the GPU) the comparison is
//   to a stated tolerance: |gpu - cpu| <= 2 ulp of the storage type at the value's magnitude + 1e-3 absolute
//   (the bf16 ulp is 2^-7 relative, f16's 2^-10).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/conv2d.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/precision.h"
#include "engine/rng.h"

using namespace leseg;

namespace {
Tensor ints(const Shape& s, uint64_t seed, double lo = -3, double hi = 3) {
  Generator g(seed);
  std::vector<double> v = uniform(s, lo, hi, g, DType::f64).to_vector<double>();
  for (double& x : v) x = double(int64_t(x));
  return Tensor::from_vector(v, s).to(DType::f32);
}
std::vector<float> host(const Tensor& t) { return t.detach().to(Device::cpu()).to(DType::f32).to_vector<float>(); }
void expect_bits(const Tensor& gpu, const Tensor& cpu, const char* what) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  auto x = host(gpu), y = host(cpu);
  ASSERT_EQ(x.size(), y.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], 4) != 0 && bad++ < 5) ADD_FAILURE() << what << " el " << i << ": " << x[i] << " vs " << y[i];
  EXPECT_EQ(bad, 0) << what;
}
void expect_close(const Tensor& gpu, const Tensor& cpu, double rel_ulp, const char* what) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  auto x = host(gpu), y = host(cpu);
  ASSERT_EQ(x.size(), y.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::abs(double(x[i]) - y[i]) > 2 * rel_ulp * std::abs(double(y[i])) + 1e-3 && bad++ < 5)
      ADD_FAILURE() << what << " el " << i << ": " << x[i] << " vs " << y[i];
  EXPECT_EQ(bad, 0) << what;
}
}  // namespace

TEST(AutocastGpu, ChainMatchesCpuTwin) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  const Device cu = Device::cuda();
  for (Precision p : {Precision::bf16, Precision::f16}) {
    const double ulp = p == Precision::bf16 ? 1.0 / 128 : 1.0 / 1024;
    Tensor x = ints({2, 3, 8, 8}, 1), w = ints({4, 3, 3, 3}, 2), b = ints({4}, 3);
    Tensor lw = ints({5, 8}, 4), lb = ints({5}, 5);
    Tensor labels = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4,
                                                  0, 1, 2, 3, 4, 0, 1},
                                                 Shape{32});
    struct Out { Tensor conv, bn, cat, logits, loss, gx, gw, glw; };
    auto run = [&](Device d) {
      Out o;
      Tensor xd = x.to(d), wd = w.to(d), bd = b.to(d), lwd = lw.to(d), lbd = lb.to(d);
      xd.requires_grad_(), wd.requires_grad_(), lwd.requires_grad_();
      PrecisionScope ps(p);
      o.conv = conv2d(xd, wd, bd, 1, 1);
      o.bn = relu(batch_norm(o.conv, Tensor::zeros(Shape{4}, DType::f32, d), Tensor::ones(Shape{4}, DType::f32, d), Tensor(),
                             Tensor(), true));
      Tensor pooled = max_pool2d(o.bn, 2);                  // (2, 4, 4, 4)
      o.cat = concat({pooled, pooled}, 1);                  // (2, 8, 4, 4)
      Tensor rows = permute(o.cat, {0, 2, 3, 1}).reshape(Shape{32, 8});
      o.logits = linear(rows, lwd, lbd);
      o.loss = cross_entropy(o.logits, labels.to(d));
      o.loss.backward();
      o.gx = xd.grad(), o.gw = wd.grad(), o.glw = lwd.grad();
      return o;
    };
    Out c = run(Device::cpu()), g = run(cu);
    EXPECT_EQ(g.conv.dtype(), p == Precision::bf16 ? DType::bf16 : DType::f16);
    expect_bits(g.conv, c.conv, "conv2d (integer inputs: exact accumulation)");
    expect_close(g.bn, c.bn, ulp, "batch_norm + relu");
    expect_close(g.cat, c.cat, ulp, "max_pool + concat");
    expect_close(g.logits, c.logits, ulp * 4, "linear");
    EXPECT_NEAR(g.loss.item_double(), c.loss.item_double(), 1e-2 * std::abs(c.loss.item_double()) + 1e-3);
    EXPECT_EQ(g.gw.dtype(), DType::f32);
    expect_close(g.glw, c.glw, ulp * 8, "linear dW (f32 leaf)");
    expect_close(g.gw, c.gw, ulp * 8, "conv dW (f32 leaf)");
    expect_close(g.gx, c.gx, ulp * 8, "conv dx");
  }
}
