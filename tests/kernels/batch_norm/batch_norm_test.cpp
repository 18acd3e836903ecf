// SPDX-License-Identifier: Apache-2.0
// batch_norm CPU twin vs long-double references: (N, C) with many rows (chunked parallel column sums) and
// (N, C, L) planes; train and eval backward; running-buffer update (biased var normalises, unbiased var
// updates: PyTorch convention); bits independent of the thread count; engine op errors and versions.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "engine/ops/nn_functional.h"
#include "kernels/batch_norm/batch_norm.h"

using namespace leseg;

namespace {
struct Ref {
  std::vector<long double> mean, var;
};
Ref ref_stats(const std::vector<double>& x, int64_t N, int64_t C, int64_t L) {
  Ref r{std::vector<long double>(size_t(C), 0), std::vector<long double>(size_t(C), 0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t l = 0; l < L; ++l) r.mean[size_t(c)] += x[size_t((n * C + c) * L + l)];
  for (auto& m : r.mean) m /= (N * L);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t l = 0; l < L; ++l) {
        long double d = x[size_t((n * C + c) * L + l)] - r.mean[size_t(c)];
        r.var[size_t(c)] += d * d;
      }
  for (auto& v : r.var) v /= (N * L);
  return r;
}

void run_case(int64_t N, int64_t C, int64_t L, bool training) {
  const size_t n = size_t(N * C * L);
  std::vector<double> x(n), g(n), w(static_cast<size_t>(C)), b(static_cast<size_t>(C));
  for (size_t i = 0; i < n; ++i) x[i] = std::sin(double(i) * 0.731) * 3 + double(i % 5) * 0.1, g[i] = std::cos(double(i) * 0.3);
  for (int64_t c = 0; c < C; ++c) w[size_t(c)] = 1.0 + 0.25 * double(c), b[size_t(c)] = 0.1 * double(c);
  std::vector<double> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C)), rstd(static_cast<size_t>(C)), y(n), dx(n), dw(static_cast<size_t>(C)), db(static_cast<size_t>(C));
  Ref r = ref_stats(x, N, C, L);
  if (training) {
    kernels::batch_norm_stats_cpu(x.data(), N, C, L, mean.data(), var.data());
    for (int64_t c = 0; c < C; ++c) {
      ASSERT_NEAR(mean[size_t(c)], double(r.mean[size_t(c)]), 1e-12);
      ASSERT_NEAR(var[size_t(c)], double(r.var[size_t(c)]), 1e-11);
    }
  } else {
    for (int64_t c = 0; c < C; ++c) mean[size_t(c)] = 0.3 * double(c), var[size_t(c)] = 1.0 + double(c);
  }
  kernels::batch_norm_finalize_cpu(mean.data(), var.data(), C, N * L, 1e-5, 0.1, (double*)nullptr, (double*)nullptr,
                                   rstd.data());
  kernels::batch_norm_forward_cpu(x.data(), mean.data(), rstd.data(), w.data(), b.data(), y.data(), N, C, L);
  kernels::batch_norm_backward_cpu(g.data(), x.data(), mean.data(), rstd.data(), w.data(), N, C, L, training, dx.data(),
                                   dw.data(), db.data());
  const long double M = N * L;
  std::vector<long double> sg(static_cast<size_t>(C), 0), sgx(static_cast<size_t>(C), 0);
  auto xhat = [&](size_t i, int64_t c) { return (x[i] - (long double)mean[size_t(c)]) / std::sqrt((long double)var[size_t(c)] + 1e-5L); };
  for (size_t i = 0; i < n; ++i) {
    int64_t c = (int64_t(i) / L) % C;
    sg[size_t(c)] += g[i], sgx[size_t(c)] += g[i] * xhat(i, c);
    ASSERT_NEAR(y[i], double(xhat(i, c) * w[size_t(c)] + b[size_t(c)]), 1e-10) << i;
  }
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_NEAR(dw[size_t(c)], double(sgx[size_t(c)]), 1e-9 * (1 + std::abs(double(sgx[size_t(c)]))));
    EXPECT_NEAR(db[size_t(c)], double(sg[size_t(c)]), 1e-9 * (1 + std::abs(double(sg[size_t(c)]))));
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t c = (int64_t(i) / L) % C;
    long double rs = 1.0L / std::sqrt((long double)var[size_t(c)] + 1e-5L);
    long double ref = training ? w[size_t(c)] * rs * (g[i] - sg[size_t(c)] / M - xhat(i, c) * sgx[size_t(c)] / M)
                               : g[i] * w[size_t(c)] * rs;
    ASSERT_NEAR(dx[i], double(ref), 1e-10) << i;
  }
  // Bits independent of the thread count.
  std::vector<double> dw1(static_cast<size_t>(C)), m1(static_cast<size_t>(C)), v1(static_cast<size_t>(C));
  const int nt = omp_get_max_threads();
  omp_set_num_threads(1);
  kernels::batch_norm_backward_cpu(g.data(), x.data(), mean.data(), rstd.data(), w.data(), N, C, L, training,
                                   (double*)nullptr, dw1.data(), (double*)nullptr);
  kernels::batch_norm_stats_cpu(x.data(), N, C, L, m1.data(), v1.data());
  omp_set_num_threads(nt);
  EXPECT_EQ(dw1, dw);
  std::vector<double> m2(static_cast<size_t>(C)), v2(static_cast<size_t>(C));
  kernels::batch_norm_stats_cpu(x.data(), N, C, L, m2.data(), v2.data());
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(v1, v2);
}
}  // namespace

TEST(BatchNormCpu, TrainRowsManyMatchesReference) { run_case(20011, 7, 1, true); }
TEST(BatchNormCpu, TrainPlanesMatchesReference) { run_case(3, 5, 1999, true); }
TEST(BatchNormCpu, EvalMatchesReference) { run_case(101, 3, 2, false); }

TEST(BatchNormOp, RunningUpdateEvalAndErrors) {
  Tensor x = Tensor::from_vector<double>({1, 10, 2, 20, 3, 30, 6, 40}, Shape{4, 2});
  Tensor rm = Tensor::zeros(Shape{2}, DType::f64), rv = Tensor::ones(Shape{2}, DType::f64);
  const uint64_t v0 = rm.version();
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 0.0);
  EXPECT_GT(rm.version(), v0);
  // channel 0: mean 3, biased var (4+1+0+9)/4 = 3.5, unbiased 14/3
  auto m = rm.to_vector<double>(), v = rv.to_vector<double>();
  EXPECT_NEAR(m[0], 0.3, 1e-15);
  EXPECT_NEAR(v[0], 0.9 + 0.1 * 14.0 / 3.0, 1e-14);
  EXPECT_NEAR(y.to_vector<double>()[0], (1 - 3) / std::sqrt(3.5), 1e-14);
  Tensor ye = batch_norm(x, rm, rv, Tensor(), Tensor(), false, 0.1, 0.0);
  EXPECT_NEAR(ye.to_vector<double>()[0], (1 - m[0]) / std::sqrt(v[0]), 1e-14);
  EXPECT_THROW(batch_norm(Tensor::ones(Shape{1, 3}, DType::f64), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false), Error);
  EXPECT_THROW(batch_norm(x, Tensor::zeros(Shape{3}, DType::f64), rv, Tensor(), Tensor(), true), Error);
}
