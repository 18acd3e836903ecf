// SPDX-License-Identifier: Apache-2.0
// CPU twin of kernels/elementwise and kernels/compare against serial loops written independently here
// (explicit coordinates, formulas spelled out), on prime sizes, empty tensors and broadcast combinations.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/compare/compare.h"
#include "kernels/elementwise/elementwise.h"

namespace leseg::kernels {
namespace {

using Dims = std::vector<int64_t>;

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (auto v : d) n *= v;
  return n;
}
// Offset into an operand of shape `s` (right-aligned, size-1 dims broadcast) for output coordinates `c`.
int64_t operand_offset(const Dims& s, const Dims& c) {
  int64_t off = 0;
  const size_t lead = c.size() - s.size();
  for (size_t j = 0; j < s.size(); ++j) off = off * s[j] + (s[j] == 1 ? 0 : c[lead + j]);
  return off;
}
Dims coords(int64_t i, const Dims& out) {
  Dims c(out.size());
  for (int d = int(out.size()) - 1; d >= 0; --d) {
    c[size_t(d)] = i % out[size_t(d)];
    i /= out[size_t(d)];
  }
  return c;
}
std::vector<double> randv(int64_t n, uint32_t seed, double lo = -2, double hi = 2) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(g);
  return v;
}
double ref_binary(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::pow: return std::pow(a, b);
    case BinaryOp::maximum: return std::max(a, b);
    case BinaryOp::minimum: return std::min(a, b);
  }
  return 0;
}

struct BCase {
  Dims a, b;
};
const std::vector<BCase> kBroadcastCases = {
    {{1009}, {1009}},          {{37, 1, 5}, {1, 11, 5}}, {{0, 3}, {3}},       {{4, 7}, {}},
    {{2, 3, 1, 4, 1, 3}, {3, 1, 5, 1}}, {{1, 1}, {13, 1}}, {{5, 1}, {1, 1}},   {{3, 1, 2}, {3, 7, 2}},
};

TEST(ElementwiseKernel, BinaryForwardMatchesSerialLoop) {
  const BinaryOp ops[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                          BinaryOp::pow, BinaryOp::maximum, BinaryOp::minimum};
  int checked = 0;
  for (const auto& bc : kBroadcastCases) {
    const Dims out = broadcast_shape({bc.a, bc.b});
    const int64_t n = numel(out);
    auto a = randv(numel(bc.a), 1, 0.5, 2.0), b = randv(numel(bc.b), 2);
    const BroadcastIndex bi = make_broadcast_index(out, {bc.a, bc.b});
    const bool same = bc.a == out && bc.b == out;
    for (BinaryOp op : ops) {
      std::vector<double> got(static_cast<size_t>(n), -7.0);
      binary_forward_cpu<double>(op, a.data(), b.data(), got.data(), n, same ? nullptr : &bi);
      int bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        Dims c = coords(i, out);
        double ref = ref_binary(op, a[size_t(operand_offset(bc.a, c))], b[size_t(operand_offset(bc.b, c))]);
        if (!(std::abs(got[size_t(i)] - ref) <= 1e-14 * (1 + std::abs(ref))) && bad++ < 5)
          ADD_FAILURE() << "op " << int(op) << " i " << i << ": " << got[size_t(i)] << " vs " << ref;
        checked += ref != 0;
      }
      EXPECT_EQ(bad, 0);
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(ElementwiseKernel, LargePrimeSameShapeFastPathFloat) {
  const int64_t n = (1 << 20) + 7;  // parallel loop, not a multiple of anything
  auto a64 = randv(n, 3), b64 = randv(n, 4);
  std::vector<float> a(a64.begin(), a64.end()), b(b64.begin(), b64.end()), out(static_cast<size_t>(n));
  binary_forward_cpu<float>(BinaryOp::mul, a.data(), b.data(), out.data(), n, nullptr);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[size_t(i)], a[size_t(i)] * b[size_t(i)]) << i;
}

TEST(ElementwiseKernel, BinaryBackwardDerivativesAndTies) {
  // a = b elementwise: maximum/minimum split the gradient 0.5 / 0.5.
  std::vector<double> a = {1.0, -2.0, 3.0, 0.5}, b = {1.0, -1.0, 3.0, 2.0}, g = {2.0, 4.0, 6.0, 8.0};
  std::vector<double> ga(4), gb(4);
  binary_backward_cpu<double>(BinaryOp::maximum, a.data(), b.data(), g.data(), ga.data(), gb.data(), 4, nullptr);
  EXPECT_EQ(ga, (std::vector<double>{1.0, 0.0, 3.0, 0.0}));
  EXPECT_EQ(gb, (std::vector<double>{1.0, 4.0, 3.0, 8.0}));
  binary_backward_cpu<double>(BinaryOp::minimum, a.data(), b.data(), g.data(), ga.data(), gb.data(), 4, nullptr);
  EXPECT_EQ(ga, (std::vector<double>{1.0, 4.0, 3.0, 8.0}));
  EXPECT_EQ(gb, (std::vector<double>{1.0, 0.0, 3.0, 0.0}));
  // Every op against central differences of the forward kernel, one operand null (not computed).
  const BinaryOp ops[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::pow};
  auto x = randv(101, 5, 0.5, 2.0), y = randv(101, 6, 0.5, 2.0), gg = randv(101, 7);
  for (BinaryOp op : ops) {
    std::vector<double> dx(101), dy(101);
    binary_backward_cpu<double>(op, x.data(), y.data(), gg.data(), dx.data(), nullptr, 101, nullptr);
    binary_backward_cpu<double>(op, x.data(), y.data(), gg.data(), nullptr, dy.data(), 101, nullptr);
    for (int i = 0; i < 101; ++i) {
      const double e = 1e-6;
      double nx = (ref_binary(op, x[i] + e, y[i]) - ref_binary(op, x[i] - e, y[i])) / (2 * e) * gg[i];
      double ny = (ref_binary(op, x[i], y[i] + e) - ref_binary(op, x[i], y[i] - e)) / (2 * e) * gg[i];
      ASSERT_NEAR(dx[size_t(i)], nx, 1e-6 * (1 + std::abs(nx))) << "op " << int(op) << " i " << i;
      ASSERT_NEAR(dy[size_t(i)], ny, 1e-6 * (1 + std::abs(ny))) << "op " << int(op) << " i " << i;
    }
  }
}

TEST(ElementwiseKernel, ScalarOperandBothOrders) {
  auto x = randv(257, 8, 0.5, 2.0), g = randv(257, 9);
  std::vector<double> out(257), gx(257);
  binary_scalar_forward_cpu<double>(BinaryOp::div, x.data(), 3.0, true, out.data(), 257);  // 3 / x
  binary_scalar_backward_cpu<double>(BinaryOp::div, x.data(), 3.0, true, g.data(), gx.data(), 257);
  for (int i = 0; i < 257; ++i) {
    EXPECT_DOUBLE_EQ(out[size_t(i)], 3.0 / x[size_t(i)]);
    EXPECT_NEAR(gx[size_t(i)], -3.0 / (x[size_t(i)] * x[size_t(i)]) * g[size_t(i)], 1e-12);
  }
  binary_scalar_forward_cpu<double>(BinaryOp::pow, x.data(), 3.0, false, out.data(), 257);  // x^3
  binary_scalar_backward_cpu<double>(BinaryOp::pow, x.data(), 3.0, false, g.data(), gx.data(), 257);
  for (int i = 0; i < 257; ++i) {
    EXPECT_NEAR(out[size_t(i)], x[size_t(i)] * x[size_t(i)] * x[size_t(i)], 1e-12);
    EXPECT_NEAR(gx[size_t(i)], 3 * x[size_t(i)] * x[size_t(i)] * g[size_t(i)], 1e-12);
  }
}

double ref_unary(UnaryOp op, double x, UnaryParams p) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::rsqrt: return 1 / std::sqrt(x);
    case UnaryOp::abs: return std::abs(x);
    case UnaryOp::relu: return x > 0 ? x : 0;
    case UnaryOp::leaky_relu: return x > 0 ? x : p.p0 * x;
    case UnaryOp::gelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case UnaryOp::gelu_tanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::sigmoid: return 1 / (1 + std::exp(-x));
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::clamp: return std::min(std::max(x, p.p0), p.p1);
    case UnaryOp::square: return x * x;
    case UnaryOp::reciprocal: return 1 / x;
  }
  return 0;
}

TEST(ElementwiseKernel, UnaryForwardAndDerivativeMatchReference) {
  const UnaryOp ops[] = {UnaryOp::neg, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::rsqrt,
                         UnaryOp::abs, UnaryOp::relu, UnaryOp::leaky_relu, UnaryOp::gelu, UnaryOp::gelu_tanh,
                         UnaryOp::sigmoid, UnaryOp::tanh, UnaryOp::clamp, UnaryOp::square, UnaryOp::reciprocal};
  const int64_t n = 1009;
  auto raw = randv(n, 10, -3, 3);
  for (UnaryOp op : ops) {
    const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::rsqrt || op == UnaryOp::reciprocal;
    std::vector<double> x = raw;
    for (auto& v : x) {
      if (positive) v = std::abs(v) + 0.1;
      if (std::abs(v) < 1e-3) v = 0.5;  // keep finite differences off the kinks at 0
    }
    const UnaryParams p{op == UnaryOp::clamp ? -1.0 : 0.2, 1.5};
    std::vector<double> y(static_cast<size_t>(n)), g = randv(n, 11), gx(static_cast<size_t>(n));
    unary_forward_cpu<double>(op, x.data(), y.data(), n, p);
    unary_backward_cpu<double>(op, x.data(), y.data(), g.data(), gx.data(), n, p);
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double xi = x[size_t(i)], e = 1e-6;
      const double ref = ref_unary(op, xi, p);
      const double nd = (ref_unary(op, xi + e, p) - ref_unary(op, xi - e, p)) / (2 * e) * g[size_t(i)];
      if (op == UnaryOp::clamp && (std::abs(xi - p.p0) < 1e-5 || std::abs(xi - p.p1) < 1e-5)) continue;
      bool ok = std::abs(y[size_t(i)] - ref) <= 1e-12 * (1 + std::abs(ref)) &&
                std::abs(gx[size_t(i)] - nd) <= 1e-6 * (1 + std::abs(nd));
      if (!ok && bad++ < 5)
        ADD_FAILURE() << "unary op " << int(op) << " x " << xi << ": y " << y[size_t(i)] << " vs " << ref << ", grad "
                      << gx[size_t(i)] << " vs " << nd;
    }
    EXPECT_EQ(bad, 0) << "unary op " << int(op);
  }
}

TEST(ElementwiseKernel, KinkConventions) {
  std::vector<double> x = {0.0, -1.0, 1.0, 2.0}, y(4), g = {1, 1, 1, 1}, gx(4);
  const UnaryParams clamp_p{-1.0, 1.0};
  unary_forward_cpu<double>(UnaryOp::clamp, x.data(), y.data(), 4, clamp_p);
  unary_backward_cpu<double>(UnaryOp::clamp, x.data(), y.data(), g.data(), gx.data(), 4, clamp_p);
  EXPECT_EQ(y, (std::vector<double>{0.0, -1.0, 1.0, 1.0}));
  EXPECT_EQ(gx, (std::vector<double>{1.0, 0.0, 0.0, 0.0}));  // strictly inside only
  unary_backward_cpu<double>(UnaryOp::abs, x.data(), y.data(), g.data(), gx.data(), 1, {});
  EXPECT_EQ(gx[0], 0.0);
  unary_backward_cpu<double>(UnaryOp::relu, x.data(), y.data(), g.data(), gx.data(), 1, {});
  EXPECT_EQ(gx[0], 0.0);
  // sigmoid stays finite and exact at the extremes
  std::vector<float> big = {-200.f, 200.f}, sb(2);
  unary_forward_cpu<float>(UnaryOp::sigmoid, big.data(), sb.data(), 2, {});
  EXPECT_EQ(sb[0], 0.f);
  EXPECT_EQ(sb[1], 1.f);
}

TEST(ElementwiseKernel, WhereMaskedFillBroadcastCopy) {
  const Dims c_s = {7}, a_s = {4, 1}, b_s = {7}, out = {4, 7};
  std::vector<uint8_t> c = {1, 0, 0, 1, 1, 0, 1};
  auto a = randv(4, 12), b = randv(7, 13);
  const BroadcastIndex bi = make_broadcast_index(out, {c_s, a_s, b_s});
  std::vector<double> o(28), g = randv(28, 14), ga(28), gb(28);
  where_forward_cpu<double>(c.data(), a.data(), 0.0, b.data(), o.data(), 28, bi);
  where_backward_cpu<double>(c.data(), g.data(), ga.data(), gb.data(), 28, bi);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 7; ++j) {
      const size_t k = size_t(i * 7 + j);
      EXPECT_EQ(o[k], c[size_t(j)] ? a[size_t(i)] : b[size_t(j)]);
      EXPECT_EQ(ga[k], c[size_t(j)] ? g[k] : 0.0);
      EXPECT_EQ(gb[k], c[size_t(j)] ? 0.0 : g[k]);
    }
  where_forward_cpu<double>(c.data(), nullptr, -5.0, b.data(), o.data(), 28, bi);  // masked_fill form
  for (int j = 0; j < 7; ++j) EXPECT_EQ(o[size_t(7 + j)], c[size_t(j)] ? -5.0 : b[size_t(j)]);
  const BroadcastIndex bc = make_broadcast_index(out, {a_s});
  broadcast_copy_cpu<double>(a.data(), o.data(), 28, bc);
  for (int i = 0; i < 28; ++i) EXPECT_EQ(o[size_t(i)], a[size_t(i / 7)]);
}

TEST(ElementwiseKernel, OneHotReportsFirstBadIndex) {
  std::vector<int64_t> idx = {2, 0, 4, 1};
  std::vector<float> out(12, -1.f);
  EXPECT_EQ(one_hot_cpu<int64_t>(idx.data(), out.data(), 4, 3), 2);
  EXPECT_EQ(out, (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0}));
  idx[2] = 2;
  EXPECT_EQ(one_hot_cpu<int64_t>(idx.data(), out.data(), 4, 3), -1);
}

TEST(CompareKernel, BroadcastAndScalarMatchSerialLoop) {
  const Dims as = {5, 1, 3}, bs = {4, 1}, out = {5, 4, 3};
  std::vector<int64_t> a(15), b(4);
  for (int i = 0; i < 15; ++i) a[size_t(i)] = i % 4;
  for (int i = 0; i < 4; ++i) b[size_t(i)] = i;
  const BroadcastIndex bi = make_broadcast_index(out, {as, bs});
  std::vector<uint8_t> o(60);
  int ones = 0;
  for (CompareOp op : {CompareOp::eq, CompareOp::ne, CompareOp::lt, CompareOp::le, CompareOp::gt, CompareOp::ge}) {
    compare_cpu<int64_t>(op, a.data(), b.data(), o.data(), 60, &bi);
    for (int64_t i = 0; i < 60; ++i) {
      Dims c = coords(i, out);
      int64_t x = a[size_t(operand_offset(as, c))], y = b[size_t(operand_offset(bs, c))];
      bool ref = op == CompareOp::eq ? x == y : op == CompareOp::ne ? x != y : op == CompareOp::lt ? x < y
               : op == CompareOp::le ? x <= y : op == CompareOp::gt ? x > y : x >= y;
      ASSERT_EQ(o[size_t(i)], ref ? 1 : 0) << "op " << int(op) << " i " << i;
      ones += ref;
    }
  }
  EXPECT_GT(ones, 0);
  std::vector<float> f = {1.f, NAN, 3.f};
  std::vector<uint8_t> r(3);
  compare_scalar_cpu<float>(CompareOp::ge, f.data(), 2.f, r.data(), 3);
  EXPECT_EQ(r, (std::vector<uint8_t>{0, 0, 1}));
  compare_scalar_cpu<float>(CompareOp::ne, f.data(), 2.f, r.data(), 3);
  EXPECT_EQ(r, (std::vector<uint8_t>{1, 1, 1}));
  std::vector<uint8_t> m = {0, 1, 2}, n(3);
  logical_not_cpu(m.data(), n.data(), 3);
  EXPECT_EQ(n, (std::vector<uint8_t>{1, 0, 0}));
}

TEST(BroadcastIndex, CoalescesContiguousAndSizeOneDims) {
  EXPECT_EQ(make_broadcast_index({3, 4, 5}, {{3, 4, 5}, {3, 4, 5}}).ndim, 1);
  EXPECT_EQ(make_broadcast_index({6, 4, 5}, {{6, 4, 5}, {4, 5}}).ndim, 2);
  EXPECT_EQ(make_broadcast_index({6, 1, 4, 5}, {{6, 1, 4, 5}, {4, 1}}).ndim, 3);
  EXPECT_EQ(make_broadcast_index({1, 1}, {{1, 1}, {}}).ndim, 0);
  const BroadcastIndex b = make_broadcast_index({6, 4, 5}, {{6, 4, 5}, {4, 5}});
  EXPECT_EQ(b.offset(1, 4 * 5 + 7), 7);
  EXPECT_EQ(b.offset(0, 4 * 5 + 7), 27);
}

TEST(BroadcastIndex, IncompatibleShapesThrow) {
  EXPECT_THROW(broadcast_shape({{3, 4}, {5}}), std::invalid_argument);
  EXPECT_THROW(make_broadcast_index({3, 4}, {{2, 4}}), std::invalid_argument);
}

}  // namespace
}  // namespace leseg::kernels
