// SPDX-License-Identifier: Apache-2.0
// Engine-level checks of the elementwise and reduction ops that the gradient harness does not cover:
// error messages, non-differentiable ops (comparisons, logical, one_hot, argmax), operator overloads,
// broadcast_to / sum_to, the documented conventions (unbiased var, first-index ties), and that saved
// outputs do not keep their own graph alive.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace leseg {
namespace {

template <class T>
Tensor tv(std::vector<T> v, Shape s) { return Tensor::from_vector<T>(v, s); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ElementwiseOps, DtypeMismatchAndBadBroadcastNameBoth) {
  Tensor a = Tensor::ones(Shape{2, 3}), b = Tensor::ones(Shape{2, 3}, DType::f64), c = Tensor::ones(Shape{4});
  std::string e = error_of([&] { add(a, b); });
  EXPECT_NE(e.find("f32"), std::string::npos) << e;
  EXPECT_NE(e.find("f64"), std::string::npos) << e;
  e = error_of([&] { mul(a, c); });
  EXPECT_NE(e.find("(2, 3)"), std::string::npos) << e;
  EXPECT_NE(e.find("(4,)"), std::string::npos) << e;
  EXPECT_FALSE(error_of([&] { exp(Tensor::ones(Shape{2}, DType::i64)); }).empty());
  EXPECT_FALSE(error_of([&] { clamp(a, 2.0, 1.0); }).empty());
  EXPECT_FALSE(error_of([&] { where(a, a, a); }).empty());  // condition must be u8/bool
}

TEST(ElementwiseOps, OperatorsAndScalarOverloads) {
  Tensor a = tv<float>({1, 2, 3, 4}, {2, 2}), b = tv<float>({10, 20}, {2});
  EXPECT_EQ((a + b).to_vector<float>(), (std::vector<float>{11, 22, 13, 24}));
  EXPECT_EQ((a - b).to_vector<float>(), (std::vector<float>{-9, -18, -7, -16}));
  EXPECT_EQ((b * a).to_vector<float>(), (std::vector<float>{10, 40, 30, 80}));
  EXPECT_EQ((b / a).to_vector<float>(), (std::vector<float>{10, 10, 10.f / 3, 5}));
  EXPECT_EQ((2.0 - a).to_vector<float>(), (std::vector<float>{1, 0, -1, -2}));
  EXPECT_EQ((a / 2.0).to_vector<float>(), (std::vector<float>{0.5, 1, 1.5, 2}));
  EXPECT_EQ((1.0 / a * 4.0).to_vector<float>(), (std::vector<float>{4, 2, 4.f / 3, 1}));
  EXPECT_EQ((-a).to_vector<float>(), (std::vector<float>{-1, -2, -3, -4}));
  EXPECT_EQ(pow(a, 2.0).to_vector<float>(), (std::vector<float>{1, 4, 9, 16}));
  EXPECT_EQ(pow(2.0, a).to_vector<float>(), (std::vector<float>{2, 4, 8, 16}));
  EXPECT_EQ(maximum(a, 2.5).to_vector<float>(), (std::vector<float>{2.5, 2.5, 3, 4}));
  EXPECT_EQ((a + b).shape(), (Shape{2, 2}));
}

TEST(ElementwiseOps, MaximumTieSplitsGradient) {
  Tensor a = tv<double>({1, 2}, {2}).requires_grad_(), b = tv<double>({1, 3}, {2}).requires_grad_();
  sum(maximum(a, b)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.5, 0}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0.5, 1}));
}

TEST(ElementwiseOps, ComparisonsLogicalAndWhere) {
  Tensor a = tv<int64_t>({0, 1, 2, 3, 4, 5}, {2, 3}), b = tv<int64_t>({1, 1, 5}, {3});
  EXPECT_EQ(eq(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(lt(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 1, 0, 0, 0}));
  EXPECT_EQ(ge(a, 3.0).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(gt(a, b).dtype(), DType::u8);
  Tensor m = logical_and(ge(a, 1.0), le(a, 4.0));
  EXPECT_EQ(m.to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(logical_or(logical_not(m), eq(a, 2.0)).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 1, 0, 0, 1}));
  Tensor cond = tv<bool>({true, false, true}, {3});
  Tensor x = tv<float>({1, 2, 3, 4, 5, 6}, {2, 3}), y = tv<float>({-1}, {1});
  EXPECT_EQ(where(cond, x, y).to_vector<float>(), (std::vector<float>{1, -1, 3, 4, -1, 6}));
  EXPECT_EQ(masked_fill(x, cond, 0.0).to_vector<float>(), (std::vector<float>{0, 2, 0, 0, 5, 0}));
  EXPECT_FALSE(error_of([&] { masked_fill(Tensor::ones(Shape{3}), tv<uint8_t>({1, 0, 1, 1, 0, 1}, {2, 3}), 0.0); }).empty());
}

TEST(ElementwiseOps, OneHot) {
  Tensor oh = one_hot(tv<int64_t>({2, 0, 1, 2}, {2, 2}), 3);
  EXPECT_EQ(oh.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(oh.dtype(), DType::f32);
  EXPECT_EQ(oh.to_vector<float>(), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  std::string e = error_of([&] { one_hot(tv<int32_t>({1, 7, 0}, {3}), 3); });
  EXPECT_NE(e.find("index 7"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { one_hot(tv<int64_t>({-1}, {1}), 3); }).find("index -1"), std::string::npos);
}

TEST(ElementwiseOps, BroadcastToAndSumTo) {
  Tensor x = tv<double>({1, 2, 3}, {3, 1});
  Tensor y = broadcast_to(x, Shape{2, 3, 4});
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(y.to_vector<double>()[5], 2.0);
  Tensor s = sum_to(y, Shape{3, 1});
  EXPECT_EQ(s.to_vector<double>(), (std::vector<double>{8, 16, 24}));
  EXPECT_EQ(sum_to(y, Shape{}).item<double>(), 48.0);
  EXPECT_EQ(sum_to(y, Shape{1, 4}).to_vector<double>(), (std::vector<double>{12, 12, 12, 12}));
  EXPECT_FALSE(error_of([&] { sum_to(y, Shape{5}); }).empty());
  EXPECT_FALSE(error_of([&] { broadcast_to(x, Shape{3, 2, 4}); }).empty());
}

TEST(ReduceOps, ConventionsAndShapes) {
  Tensor x = tv<float>({1, 5, 5, 2, 0, 0, 3, 9}, {2, 4});
  ValuesIndices m = max(x, 1);
  EXPECT_EQ(m.values.to_vector<float>(), (std::vector<float>{5, 9}));
  EXPECT_EQ(m.indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 3}));  // tie -> first index
  EXPECT_EQ(argmin(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(argmax(x, 0, true).shape(), (Shape{1, 4}));
  EXPECT_EQ(sum(x, -1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(sum(x).shape(), Shape{});
  EXPECT_EQ(sum(x).item<float>(), 25.f);
  EXPECT_EQ(mean(x, 0).to_vector<float>(), (std::vector<float>{0.5, 2.5, 4, 5.5}));
  Tensor v = tv<double>({1, 2, 3, 4}, {4});
  EXPECT_DOUBLE_EQ(var(v).item<double>(), 5.0 / 3.0);  // unbiased by default
  EXPECT_DOUBLE_EQ(var(v, false).item<double>(), 1.25);
  EXPECT_DOUBLE_EQ(var(v.reshape(Shape{2, 2}), 1, false).to_vector<double>()[1], 0.25);
  EXPECT_EQ(max(x).item<float>(), 9.f);
  EXPECT_EQ(min(x).item<float>(), 0.f);
  EXPECT_FALSE(error_of([&] { max(Tensor::zeros(Shape{3, 0}), 1); }).empty());
  EXPECT_FALSE(error_of([&] { sum(x, 2); }).empty());
  EXPECT_EQ(sum(Tensor::zeros(Shape{0, 3}), 0).to_vector<float>(), (std::vector<float>{0, 0, 0}));
}

TEST(ReduceOps, LargeMeanMatchesDoubleReference) {
  const int64_t n = 1000003;
  std::vector<float> v(static_cast<size_t>(n));
  double ref = 0;
  for (int64_t i = 0; i < n; ++i) ref += (v[size_t(i)] = float(std::sin(double(i)) + 0.1));
  EXPECT_NEAR(mean(tv<float>(v, {n})).item<float>(), ref / double(n), 1e-7);
}

TEST(ElementwiseOps, SavedOutputDoesNotKeepGraphAlive) {
  Tensor x = tv<double>({0.5, 1.5}, {2}).requires_grad_();
  std::weak_ptr<TensorImpl> w;
  {
    Tensor y = sigmoid(exp(x));
    w = y.impl();
    ASSERT_TRUE(y.grad_fn());
  }
  EXPECT_TRUE(w.expired()) << "a unary op's saved output keeps its own node alive (reference cycle)";
}

}  // namespace
}  // namespace leseg
