// SPDX-License-Identifier: Apache-2.0
// CPU twin of kernels/reduce against serial loops (long double accumulation), on multi-chunk rows,
// prime sizes, inner > 1, empty dims; exactness on dyadic inputs; bitwise determinism across thread
// counts; tie and NaN rules of max/min; the index backward.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/reduce/reduce.h"

namespace leseg::kernels {
namespace {

std::vector<double> randv(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> u(0.5, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(g);
  return v;
}

struct Ref {
  std::vector<double> sum, mean, var, max, min;
  std::vector<int64_t> amax, amin;
};
Ref reference(const std::vector<double>& x, ReduceDims d) {
  Ref r;
  for (int64_t o = 0; o < d.outer; ++o)
    for (int64_t i = 0; i < d.inner; ++i) {
      long double s = 0;
      double mx = -INFINITY, mn = INFINITY;
      int64_t ax = -1, an = -1;
      for (int64_t k = 0; k < d.r; ++k) {
        double v = x[size_t((o * d.r + k) * d.inner + i)];
        s += v;
        if (v > mx) mx = v, ax = k;
        if (v < mn) mn = v, an = k;
      }
      const long double m = s / d.r;
      long double q = 0;
      for (int64_t k = 0; k < d.r; ++k) {
        long double e = x[size_t((o * d.r + k) * d.inner + i)] - m;
        q += e * e;
      }
      r.sum.push_back(double(s));
      r.mean.push_back(double(m));
      r.var.push_back(double(q / (d.r - 1)));
      r.max.push_back(mx), r.min.push_back(mn), r.amax.push_back(ax), r.amin.push_back(an);
    }
  return r;
}

const std::vector<ReduceDims> kDims = {
    {1, (1 << 17) + 3, 1},  // several CPU chunks in one row (parallel over chunks)
    {7, 13, 1}, {1, 1, 1}, {5, 1, 1}, {2, 100003, 1}, {4, 257, 33}, {1, 7, 1000}, {31, 2, 3}, {17, 40000, 1},
};

TEST(ReduceKernel, MatchesSerialReference) {
  for (const ReduceDims& d : kDims) {
    const int64_t n = d.outer * d.r * d.inner, nout = d.outer * d.inner;
    auto x = randv(n, uint32_t(n));
    Ref ref = reference(x, d);
    std::vector<double> out(static_cast<size_t>(nout));
    std::vector<int64_t> idx(static_cast<size_t>(nout));
    auto check = [&](const char* what, const std::vector<double>& want, double rtol) {
      int bad = 0;
      for (int64_t j = 0; j < nout; ++j)
        if (!(std::abs(out[size_t(j)] - want[size_t(j)]) <= 1e-12 + rtol * std::abs(want[size_t(j)])) && bad++ < 5)
          ADD_FAILURE() << what << " dims (" << d.outer << "," << d.r << "," << d.inner << ") [" << j
                        << "]: " << out[size_t(j)] << " vs " << want[size_t(j)];
      EXPECT_EQ(bad, 0);
    };
    reduce_forward_cpu<double>(ReduceOp::sum, x.data(), out.data(), nullptr, d, 0);
    check("sum", ref.sum, 1e-12);
    reduce_forward_cpu<double>(ReduceOp::mean, x.data(), out.data(), nullptr, d, 0);
    check("mean", ref.mean, 1e-12);
    if (d.r > 1) {
      reduce_forward_cpu<double>(ReduceOp::var, x.data(), out.data(), nullptr, d, 1);
      check("var", ref.var, 1e-11);
    }
    reduce_forward_cpu<double>(ReduceOp::max, x.data(), out.data(), idx.data(), d, 0);
    check("max", ref.max, 0);
    EXPECT_EQ(idx, ref.amax);
    reduce_forward_cpu<double>(ReduceOp::min, x.data(), out.data(), idx.data(), d, 0);
    check("min", ref.min, 0);
    EXPECT_EQ(idx, ref.amin);
  }
}

TEST(ReduceKernel, FloatSumOfDyadicValuesIsExact) {
  const int64_t n = 3000017;
  std::vector<float> x(static_cast<size_t>(n));
  double want = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[size_t(i)] = float((i * 7919) % 2001 - 1000) * 0.25f;
    want += x[size_t(i)];
  }
  ASSERT_NE(want, 0.0);
  float out = 0;
  reduce_forward_cpu<float>(ReduceOp::sum, x.data(), &out, nullptr, ReduceDims{1, n, 1}, 0);
  EXPECT_EQ(double(out), want);
}

TEST(ReduceKernel, BitwiseDeterministicAcrossThreadCounts) {
  const int64_t n = (1 << 21) + 11;
  std::vector<float> x(static_cast<size_t>(n));
  std::mt19937 g(3);
  std::normal_distribution<float> u(0.f, 1.f);
  for (auto& v : x) v = u(g);
  const int saved = omp_get_max_threads();
  std::vector<float> res;
  for (int t : {1, 2, 3}) {
    omp_set_num_threads(t);
    for (const ReduceDims& d : {ReduceDims{1, n, 1}, ReduceDims{2, n / 2, 1}}) {
      float s = 0, v = 0;
      float two[2];
      reduce_forward_cpu<float>(ReduceOp::sum, x.data(), d.outer == 1 ? &s : two, nullptr, d, 0);
      reduce_forward_cpu<float>(ReduceOp::var, x.data(), d.outer == 1 ? &v : two, nullptr, d, 1);
      res.push_back(d.outer == 1 ? s + 1000 * v : two[0] + two[1]);
    }
  }
  omp_set_num_threads(saved);
  for (size_t i = 2; i < res.size(); ++i) EXPECT_EQ(res[i], res[i % 2]) << "run " << i;
}

TEST(ReduceKernel, TiesTakeFirstIndexAndNaNPropagates) {
  std::vector<double> x = {1, 3, 3, 2, 3, /*row 2*/ 0, -1, NAN, -1, NAN};
  double out[2];
  int64_t idx[2];
  reduce_forward_cpu<double>(ReduceOp::max, x.data(), out, idx, ReduceDims{2, 5, 1}, 0);
  EXPECT_EQ(out[0], 3.0);
  EXPECT_EQ(idx[0], 1);
  EXPECT_TRUE(std::isnan(out[1]));
  EXPECT_EQ(idx[1], 2);
  reduce_forward_cpu<double>(ReduceOp::min, x.data(), out, idx, ReduceDims{2, 5, 1}, 0);
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(idx[0], 0);
  EXPECT_EQ(idx[1], 2);
  // ties across CPU chunks: the lowest index wins
  std::vector<float> big(static_cast<size_t>(3 * kReduceChunkCpu), 1.f);
  big[size_t(kReduceChunkCpu + 5)] = 2.f;
  big[size_t(2 * kReduceChunkCpu + 1)] = 2.f;
  float v;
  int64_t k;
  reduce_forward_cpu<float>(ReduceOp::max, big.data(), &v, &k, ReduceDims{1, 3 * kReduceChunkCpu, 1}, 0);
  EXPECT_EQ(k, kReduceChunkCpu + 5);
  reduce_forward_cpu<float>(ReduceOp::min, big.data(), &v, &k, ReduceDims{1, 3 * kReduceChunkCpu, 1}, 0);
  EXPECT_EQ(k, 0);
}

TEST(ReduceKernel, EmptyDimsAndErrors) {
  std::vector<double> out(5, 7.0);
  reduce_forward_cpu<double>(ReduceOp::sum, nullptr, out.data(), nullptr, ReduceDims{1, 0, 5}, 0);
  EXPECT_EQ(out, std::vector<double>(5, 0.0));
  reduce_forward_cpu<double>(ReduceOp::mean, nullptr, out.data(), nullptr, ReduceDims{1, 0, 5}, 0);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_THROW(reduce_forward_cpu<double>(ReduceOp::max, nullptr, out.data(), nullptr, ReduceDims{1, 0, 5}, 0),
               std::invalid_argument);
}

TEST(ReduceKernel, IndexBackwardScatters) {
  const ReduceDims d{2, 3, 2};
  std::vector<double> g = {1, 2, 3, 4}, gx(12, -1);
  std::vector<int64_t> idx = {2, 0, 1, 1};
  reduce_index_backward_cpu<double>(g.data(), idx.data(), gx.data(), d);
  EXPECT_EQ(gx, (std::vector<double>{0, 2, 0, 0, 1, 0, /*o=1*/ 0, 0, 3, 4, 0, 0}));
}

}  // namespace
}  // namespace leseg::kernels
