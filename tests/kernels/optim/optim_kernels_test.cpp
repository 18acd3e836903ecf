// SPDX-License-Identifier: Apache-2.0
// CPU twins of the optimizer kernels against plain serial loops written here from the torch.optim update
// rules (not from optim_math.h), on n = 70001 (> the OpenMP grain, not a multiple of any block size).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/optim/optim.h"

using namespace leseg::kernels;

namespace {
std::vector<double> randv(size_t n, unsigned seed) {
  std::mt19937 r(seed);
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (auto& x : v) x = d(r);
  return v;
}
void expect_close(const std::vector<double>& a, const std::vector<double>& ref, const char* what) {
  int bad = 0;
  double mag = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    mag += std::abs(ref[i]);
    if (!(std::abs(a[i] - ref[i]) <= 1e-13 + 1e-12 * std::abs(ref[i])) && bad++ < 5)
      ADD_FAILURE() << what << " element " << i << ": " << a[i] << " vs " << ref[i];
  }
  EXPECT_GT(mag, 0.0) << what << ": trivial output";
}
}  // namespace

TEST(OptimKernels, SgdMomentumNesterovMatchesSerialLoop) {
  const size_t n = 70001;
  auto p = randv(n, 1), g = randv(n, 2), buf = randv(n, 3);
  auto rp = p, rbuf = buf;
  SgdParams<double> h{0.1, 0.9, 0.0, 0.01, true, false};
  sgd_step_cpu<double>(p.data(), g.data(), buf.data(), int64_t(n), h);
  for (size_t i = 0; i < n; ++i) {
    double d = g[i] + 0.01 * rp[i];
    rbuf[i] = 0.9 * rbuf[i] + d;
    d = d + 0.9 * rbuf[i];
    rp[i] -= 0.1 * d;
  }
  expect_close(p, rp, "p");
  expect_close(buf, rbuf, "buf");
}

TEST(OptimKernels, AdamAmsgradMatchesSerialLoop) {
  const size_t n = 70001;
  auto p = randv(n, 4), g = randv(n, 5), m = randv(n, 6), v = randv(n, 7), vmax = randv(n, 8);
  for (auto& x : v) x = std::abs(x);
  for (auto& x : vmax) x = std::abs(x);
  auto rp = p, rm = m, rv = v, rvmax = vmax;
  const int t = 4;
  double b1 = 0.9, b2 = 0.99, lr = 1e-2, eps = 1e-8, wd = 0.1;
  double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
  AdamParams<double> h{lr, b1, b2, eps, wd, lr / bc1, std::sqrt(bc2), true, true};
  adam_step_cpu<double>(p.data(), g.data(), m.data(), v.data(), vmax.data(), int64_t(n), h);
  for (size_t i = 0; i < n; ++i) {
    rp[i] *= 1 - lr * wd;
    rm[i] = b1 * rm[i] + (1 - b1) * g[i];
    rv[i] = b2 * rv[i] + (1 - b2) * g[i] * g[i];
    rvmax[i] = std::max(rvmax[i], rv[i]);
    rp[i] -= lr / bc1 * rm[i] / (std::sqrt(rvmax[i]) / std::sqrt(bc2) + eps);
  }
  expect_close(p, rp, "p");
  expect_close(m, rm, "m");
  expect_close(v, rv, "v");
  expect_close(vmax, rvmax, "vmax");
}

TEST(OptimKernels, EmaScaleAndNormPartials) {
  const size_t n = 2 * 65536 + 5;
  auto t = randv(n, 9), s = randv(n, 10);
  auto rt = t;
  ema_update_cpu<double>(t.data(), s.data(), int64_t(n), 0.999);
  for (size_t i = 0; i < n; ++i) rt[i] = 0.999 * rt[i] + 0.001 * s[i];
  expect_close(t, rt, "ema");
  auto x = s;
  scale_cpu<double>(x.data(), int64_t(n), 0.5);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(x[i], s[i] * 0.5);
  ASSERT_EQ(norm_partials_count(int64_t(n)), 3);
  std::vector<double> part(3);
  norm_partials_cpu<double>(s.data(), int64_t(n), NormKind::L2, part.data());
  for (int c = 0; c < 3; ++c) {
    double acc = 0;
    for (size_t i = size_t(c) * 65536; i < std::min(n, size_t(c + 1) * 65536); ++i) acc += s[i] * s[i];
    EXPECT_EQ(part[size_t(c)], acc) << "chunk " << c;  // same serial order: bitwise equal
  }
  EXPECT_EQ(norm_partials_count(0), 0);
}
