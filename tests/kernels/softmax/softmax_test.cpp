// SPDX-License-Identifier: Apache-2.0
// softmax / log_softmax CPU twin vs a serial long-double reference: last-dim and middle-dim layouts, rows
// with ±1e4 entries (no overflow: max-subtracted), odd row lengths; backward vs the explicit Jacobian.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/ops/nn_functional.h"
#include "kernels/softmax/softmax.h"

using namespace leseg;

namespace {
std::vector<double> make_x(int64_t n, int seed) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = std::sin(double(i * 7 + seed)) * 3.0;
  if (n > 5) v[2] = 1e4, v[5] = -1e4;  // extreme entries
  return v;
}
// y[o, j, i] reference
std::vector<double> ref_forward(const std::vector<double>& x, int64_t O, int64_t J, int64_t I, bool log) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      long double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < J; ++j) m = std::max(m, (long double)x[size_t((o * J + j) * I + i)]);
      for (int64_t j = 0; j < J; ++j) s += std::exp((long double)x[size_t((o * J + j) * I + i)] - m);
      for (int64_t j = 0; j < J; ++j) {
        long double v = x[size_t((o * J + j) * I + i)] - m;
        y[size_t((o * J + j) * I + i)] = double(log ? v - std::log(s) : std::exp(v) / s);
      }
    }
  return y;
}
}  // namespace

TEST(SoftmaxCpu, ForwardMatchesSerialReferenceWithExtremes) {
  for (bool log : {false, true})
    for (auto [O, J, I] : std::vector<std::array<int64_t, 3>>{{5, 33, 1}, {3, 7, 5}, {1, 1, 1}, {2, 65, 3}}) {
      auto x = make_x(O * J * I, 1);
      std::vector<double> y(x.size());
      kernels::softmax_forward_cpu(x.data(), y.data(), O, J, I, log);
      auto ref = ref_forward(x, O, J, I, log);
      for (size_t k = 0; k < y.size(); ++k) {
        ASSERT_TRUE(std::isfinite(y[k])) << k;
        ASSERT_NEAR(y[k], ref[k], 1e-12 + 1e-12 * std::abs(ref[k])) << "log " << log << " el " << k;
      }
      std::vector<float> xf(x.begin(), x.end()), yf(x.size());
      kernels::softmax_forward_cpu(xf.data(), yf.data(), O, J, I, log);
      for (size_t k = 0; k < yf.size(); ++k) ASSERT_NEAR(yf[k], ref[k], 1e-5 + 1e-5 * std::abs(ref[k])) << k;
    }
}

TEST(SoftmaxCpu, BackwardMatchesJacobian) {
  const int64_t O = 3, J = 9, I = 2;
  for (bool log : {false, true}) {
    auto x = make_x(O * J * I, 4);
    for (double& v : x) v = std::fmod(v, 3.0);  // moderate values: every entry matters
    auto y = ref_forward(x, O, J, I, log);
    std::vector<double> g(x.size()), dx(x.size());
    for (size_t k = 0; k < g.size(); ++k) g[k] = std::cos(double(k));
    kernels::softmax_backward_cpu(g.data(), y.data(), dx.data(), O, J, I, log);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t a = 0; a < J; ++a) {
          // dx_a = Σ_b g_b ∂y_b/∂x_a with p = softmax
          double ref = 0;
          const size_t ka = size_t((o * J + a) * I + i);
          const double pa = log ? std::exp(y[ka]) : y[ka];
          for (int64_t b = 0; b < J; ++b) {
            const size_t kb = size_t((o * J + b) * I + i);
            const double pb = log ? std::exp(y[kb]) : y[kb];
            const double jac = log ? (a == b ? 1.0 : 0.0) - pa : pb * ((a == b ? 1.0 : 0.0) - pa);
            ref += g[kb] * jac;
          }
          ASSERT_NEAR(dx[ka], ref, 1e-12) << "log " << log << " o" << o << " i" << i << " a" << a;
        }
  }
}

TEST(SoftmaxOp, RowsSumToOneAndErrors) {
  Tensor x = Tensor::from_vector<float>({1e4f, -1e4f, 0.f, 3.f, 3.f, 3.f}, Shape{2, 3});
  auto y = softmax(x, 1).to_vector<float>();
  EXPECT_FLOAT_EQ(y[0], 1.f);
  EXPECT_EQ(y[1], 0.f);
  EXPECT_FLOAT_EQ(y[3] + y[4] + y[5], 1.f);
  EXPECT_THROW(softmax(Tensor::ones(Shape{2}, DType::i64)), Error);
  EXPECT_THROW(softmax(x, 2), Error);
}
