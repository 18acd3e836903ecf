// SPDX-License-Identifier: Apache-2.0
// layer_norm CPU twin vs a long-double reference: forward (y, mean, rstd) and backward (dx, dw, db), with
// many rows (the chunked, parallel column sums of dw/db) and an odd width; deterministic across threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/layer_norm/layer_norm.h"

using namespace leseg;

TEST(LayerNormCpu, ForwardBackwardMatchDoubleReference) {
  const int64_t R = 3001, D = 13;
  const double eps = 1e-5;
  std::vector<double> x(static_cast<size_t>(R * D)), g(x.size()), w(static_cast<size_t>(D)), b(static_cast<size_t>(D));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(double(i) * 0.37) * 2 + 0.5, g[i] = std::cos(double(i) * 0.11);
  for (int64_t d = 0; d < D; ++d) w[size_t(d)] = 0.5 + 0.1 * double(d), b[size_t(d)] = -0.2 * double(d);
  std::vector<double> y(x.size()), mean(static_cast<size_t>(R)), rstd(static_cast<size_t>(R)), dx(x.size()), dw(static_cast<size_t>(D)), db(static_cast<size_t>(D));
  kernels::layer_norm_forward_cpu(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), R, D, eps);
  kernels::layer_norm_backward_cpu(g.data(), x.data(), mean.data(), rstd.data(), w.data(), R, D, dx.data(), dw.data(),
                                   db.data());
  std::vector<long double> rdw(static_cast<size_t>(D), 0), rdb(static_cast<size_t>(D), 0);
  for (int64_t r = 0; r < R; ++r) {
    long double mu = 0, var = 0;
    for (int64_t d = 0; d < D; ++d) mu += x[size_t(r * D + d)];
    mu /= D;
    for (int64_t d = 0; d < D; ++d) var += (x[size_t(r * D + d)] - mu) * (x[size_t(r * D + d)] - mu);
    var /= D;
    long double rs = 1.0L / std::sqrt(var + eps);
    ASSERT_NEAR(mean[size_t(r)], double(mu), 1e-12);
    ASSERT_NEAR(rstd[size_t(r)], double(rs), 1e-10);
    long double mg = 0, mgx = 0;
    for (int64_t d = 0; d < D; ++d) {
      long double xh = (x[size_t(r * D + d)] - mu) * rs, gh = g[size_t(r * D + d)] * w[size_t(d)];
      ASSERT_NEAR(y[size_t(r * D + d)], double(xh * w[size_t(d)] + b[size_t(d)]), 1e-12);
      mg += gh / D, mgx += gh * xh / D;
      rdw[size_t(d)] += g[size_t(r * D + d)] * xh, rdb[size_t(d)] += g[size_t(r * D + d)];
    }
    for (int64_t d = 0; d < D; ++d) {
      long double xh = (x[size_t(r * D + d)] - mu) * rs, gh = g[size_t(r * D + d)] * w[size_t(d)];
      ASSERT_NEAR(dx[size_t(r * D + d)], double(rs * (gh - mg - xh * mgx)), 1e-11) << r << "," << d;
    }
  }
  for (int64_t d = 0; d < D; ++d) {
    EXPECT_NEAR(dw[size_t(d)], double(rdw[size_t(d)]), 1e-9 * (1 + std::abs(double(rdw[size_t(d)]))));
    EXPECT_NEAR(db[size_t(d)], double(rdb[size_t(d)]), 1e-9 * (1 + std::abs(double(rdb[size_t(d)]))));
    EXPECT_NE(dw[size_t(d)], 0.0);
  }
  // Same bits with one thread (fixed chunking).
  std::vector<double> dw1(static_cast<size_t>(D)), db1(static_cast<size_t>(D));
  const int nt = omp_get_max_threads();
  omp_set_num_threads(1);
  kernels::layer_norm_backward_cpu(g.data(), x.data(), mean.data(), rstd.data(), w.data(), R, D, (double*)nullptr, dw1.data(),
                                   db1.data());
  omp_set_num_threads(nt);
  EXPECT_EQ(dw1, dw);
  EXPECT_EQ(db1, db);
}
