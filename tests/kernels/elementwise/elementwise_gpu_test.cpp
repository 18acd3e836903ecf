// SPDX-License-Identifier: Apache-2.0
// CUDA elementwise / compare kernels vs the CPU twin on larger, odd sizes (skips without a device).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/device.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/compare/compare.h"
#include "kernels/elementwise/elementwise.h"

namespace leseg::kernels {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!::leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << ::leseg::cuda_unavailable_reason()

int compare_close(const std::vector<float>& got, const std::vector<float>& ref, double atol, double rtol, const char* what) {
  int bad = 0, nonzero = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero += ref[i] != 0.f;
    if (!(std::abs(double(got[i]) - ref[i]) <= atol + rtol * std::abs(double(ref[i]))) && bad++ < 8)
      ADD_FAILURE() << what << "[" << i << "]: cuda " << got[i] << " vs cpu " << ref[i];
  }
  EXPECT_GT(nonzero, 0) << what << ": reference is all zero";
  return bad;
}

TEST(ElementwiseGpu, BinaryBroadcastForwardBackwardParity) {
  SKIP_WITHOUT_CUDA();
#if LESEG_WITH_CUDA
  const std::vector<int64_t> as = {3, 1, 4099}, bs = {1001, 1}, out = {3, 1001, 4099};
  const BroadcastIndex bi = make_broadcast_index(out, {as, bs});
  const int64_t n = 3 * 1001 * 4099;
  Generator g(1);
  Tensor a = uniform(Shape{3, 1, 4099}, 0.5, 2.0, g), b = randn(Shape{1001, 1}, g), go = randn(Shape{3, 1001, 4099}, g);
  Tensor ad = a.to(Device::cuda()), bd = b.to(Device::cuda()), god = go.to(Device::cuda());
  for (BinaryOp op : {BinaryOp::add, BinaryOp::mul, BinaryOp::div, BinaryOp::pow, BinaryOp::maximum}) {
    Tensor oc = Tensor::empty(Shape{3, 1001, 4099}), od = Tensor::empty(Shape{3, 1001, 4099}, DType::f32, Device::cuda());
    Tensor gac = Tensor::empty(oc.shape()), gad = Tensor::empty(oc.shape(), DType::f32, Device::cuda());
    binary_forward_cpu<float>(op, a.data<float>(), b.data<float>(), oc.data<float>(), n, &bi);
    binary_forward_cuda<float>(op, ad.data<float>(), bd.data<float>(), od.data<float>(), n, &bi, nullptr);
    binary_backward_cpu<float>(op, a.data<float>(), b.data<float>(), go.data<float>(), gac.data<float>(), nullptr, n, &bi);
    binary_backward_cuda<float>(op, ad.data<float>(), bd.data<float>(), god.data<float>(), gad.data<float>(), nullptr, n, &bi,
                                nullptr);
    EXPECT_EQ(compare_close(od.to_vector<float>(), oc.to_vector<float>(), 1e-6, 1e-5, "forward"), 0) << "op " << int(op);
    EXPECT_EQ(compare_close(gad.to_vector<float>(), gac.to_vector<float>(), 1e-6, 1e-5, "grad a"), 0) << "op " << int(op);
  }
#endif
}

TEST(ElementwiseGpu, UnaryParity) {
  SKIP_WITHOUT_CUDA();
#if LESEG_WITH_CUDA
  const int64_t n = (1 << 22) + 13;
  Generator g(2);
  Tensor x = uniform(Shape{n}, 0.05, 3.0, g), gy = randn(Shape{n}, g);
  Tensor xd = x.to(Device::cuda()), gyd = gy.to(Device::cuda());
  const UnaryOp ops[] = {UnaryOp::neg, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::rsqrt, UnaryOp::abs,
                         UnaryOp::relu, UnaryOp::leaky_relu, UnaryOp::gelu, UnaryOp::gelu_tanh, UnaryOp::sigmoid,
                         UnaryOp::tanh, UnaryOp::clamp, UnaryOp::square, UnaryOp::reciprocal};
  for (UnaryOp op : ops) {
    const UnaryParams p{op == UnaryOp::clamp ? 0.5 : 0.1, 2.0};
    Tensor y = Tensor::empty(x.shape()), yd = Tensor::empty(x.shape(), DType::f32, Device::cuda());
    Tensor gx = Tensor::empty(x.shape()), gxd = Tensor::empty(x.shape(), DType::f32, Device::cuda());
    unary_forward_cpu<float>(op, x.data<float>(), y.data<float>(), n, p);
    unary_backward_cpu<float>(op, x.data<float>(), y.data<float>(), gy.data<float>(), gx.data<float>(), n, p);
    unary_forward_cuda<float>(op, xd.data<float>(), yd.data<float>(), n, p, nullptr);
    unary_backward_cuda<float>(op, xd.data<float>(), yd.data<float>(), gyd.data<float>(), gxd.data<float>(), n, p, nullptr);
    // libm vs CUDA intrinsics differ by a few ulp
    EXPECT_EQ(compare_close(yd.to_vector<float>(), y.to_vector<float>(), 1e-6, 1e-5, "y"), 0) << "op " << int(op);
    EXPECT_EQ(compare_close(gxd.to_vector<float>(), gx.to_vector<float>(), 1e-6, 1e-5, "gx"), 0) << "op " << int(op);
  }
#endif
}

TEST(ElementwiseGpu, WhereCompareOneHotParity) {
  SKIP_WITHOUT_CUDA();
#if LESEG_WITH_CUDA
  const std::vector<int64_t> cs = {1, 50021}, as = {37, 1}, bs = {50021}, out = {37, 50021};
  const int64_t n = 37 * 50021;
  Generator g(3);
  Tensor c = bernoulli_mask(Shape{1, 50021}, 0.5, g), a = randn(Shape{37, 1}, g), b = randn(Shape{50021}, g);
  const BroadcastIndex bi = make_broadcast_index(out, {cs, as, bs});
  Tensor o = Tensor::empty(Shape{37, 50021}), od = Tensor::empty(Shape{37, 50021}, DType::f32, Device::cuda());
  Tensor cd = c.to(Device::cuda()), ad = a.to(Device::cuda()), bd = b.to(Device::cuda());
  where_forward_cpu<float>(c.data<uint8_t>(), a.data<float>(), 0.f, b.data<float>(), o.data<float>(), n, bi);
  where_forward_cuda<float>(cd.data<uint8_t>(), ad.data<float>(), 0.f, bd.data<float>(), od.data<float>(), n, bi, nullptr);
  EXPECT_EQ(compare_close(od.to_vector<float>(), o.to_vector<float>(), 0, 0, "where"), 0);

  const BroadcastIndex b2 = make_broadcast_index(out, {as, bs});
  Tensor m = Tensor::empty(Shape{37, 50021}, DType::u8), md = Tensor::empty(Shape{37, 50021}, DType::u8, Device::cuda());
  compare_cpu<float>(CompareOp::lt, a.data<float>(), b.data<float>(), m.data<uint8_t>(), n, &b2);
  compare_cuda<float>(CompareOp::lt, ad.data<float>(), bd.data<float>(), md.data<uint8_t>(), n, &b2, nullptr);
  EXPECT_EQ(md.to_vector<uint8_t>(), m.to_vector<uint8_t>());

  std::vector<int64_t> idx = {3, 0, 7, 2};
  Tensor id = Tensor::from_vector(idx, Shape{4}, Device::cuda());
  Tensor oh = Tensor::empty(Shape{4, 5}, DType::f32, Device::cuda());
  Tensor flag = Tensor::zeros(Shape{2}, DType::i64, Device::cuda());
  one_hot_cuda<int64_t>(id.data<int64_t>(), oh.data<float>(), 4, 5, flag.data<int64_t>(), nullptr);
  synchronize(Device::cuda());
  EXPECT_EQ(flag.to_vector<int64_t>(), (std::vector<int64_t>{1, 7}));
  auto v = oh.to_vector<float>();
  EXPECT_EQ(v[3], 1.f);
  EXPECT_EQ(v[5], 1.f);
#endif
}

}  // namespace
}  // namespace leseg::kernels
