// SPDX-License-Identifier: Apache-2.0
// matmul_cpu vs a triple loop on integer-valued inputs (exact in f32 and f64 at these sizes): every
// transpose combination, odd sizes 1/7/33/65, broadcast operands (stride 0), the summed-batch mode
// (stride_c 0) and beta accumulation; engine matmul/linear shape rules and error messages.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include <omp.h>

#include "engine/ops/linalg.h"
#include "kernels/matmul/matmul.h"

using namespace leseg;
using kernels::GemmShape;

namespace {
template <class T>
std::vector<T> ints(size_t n, int seed) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = T(int((i * 7 + size_t(seed) * 13) % 11) - 5);
  return v;
}

// Reference: C[b] = beta·C[b] + op(A[b])·op(B[b]) (or Σ_b when stride_c == 0), serial loops.
template <class T>
void ref_gemm(const std::vector<T>& a, const std::vector<T>& b, std::vector<T>& c, const GemmShape& s, T beta) {
  for (int64_t bi = 0; bi < s.batch; ++bi) {
    const T* A = a.data() + bi * s.stride_a;
    const T* B = b.data() + bi * s.stride_b;
    T* C = c.data() + bi * s.stride_c;
    const T bb = (s.stride_c == 0 && bi > 0) ? T(1) : beta;
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        T acc = 0;
        for (int64_t k = 0; k < s.k; ++k) {
          T av = s.trans_a ? A[k * s.m + i] : A[i * s.k + k];
          T bv = s.trans_b ? B[j * s.k + k] : B[k * s.n + j];
          acc += av * bv;
        }
        C[i * s.n + j] = bb * C[i * s.n + j] + acc;
      }
  }
}

template <class T>
void check_case(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool bcast_a, bool bcast_b,
                bool sum_c, T beta) {
  GemmShape s;
  s.batch = batch, s.m = m, s.n = n, s.k = k, s.trans_a = ta, s.trans_b = tb;
  s.stride_a = bcast_a ? 0 : m * k;
  s.stride_b = bcast_b ? 0 : k * n;
  s.stride_c = sum_c ? 0 : m * n;
  auto a = ints<T>(size_t((bcast_a ? 1 : batch) * m * k), 1);
  auto b = ints<T>(size_t((bcast_b ? 1 : batch) * k * n), 2);
  auto c = ints<T>(size_t((sum_c ? 1 : batch) * m * n), 3);
  auto ref = c;
  ref_gemm(a, b, ref, s, beta);
  kernels::matmul_cpu(a.data(), b.data(), c.data(), s, beta);
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < c.size(); ++i) {
    nonzero |= ref[i] != 0;
    if (c[i] != ref[i] && bad++ < 5)
      ADD_FAILURE() << "b" << batch << " m" << m << " n" << n << " k" << k << " ta" << ta << " tb" << tb << " el " << i
                    << ": " << c[i] << " vs " << ref[i];
  }
  EXPECT_EQ(bad, 0);
  if (m * n > 0 && k > 0) EXPECT_TRUE(nonzero);
}
}  // namespace

TEST(MatmulCpu, AllTransposeFlagsOddSizesExact) {
  for (int64_t m : {1, 7, 33, 65})
    for (int64_t n : {1, 33})
      for (int64_t k : {1, 7, 65})
        for (int f = 0; f < 4; ++f) {
          check_case<float>(1, m, n, k, f & 1, f & 2, false, false, false, 0.f);
          check_case<double>(1, m, n, k, f & 1, f & 2, false, false, false, 0.0);
        }
}

TEST(MatmulCpu, BatchedBroadcastSummedAndBeta) {
  for (int f = 0; f < 4; ++f) {
    check_case<float>(3, 7, 5, 33, f & 1, f & 2, false, false, false, 0.f);
    check_case<float>(3, 7, 5, 33, f & 1, f & 2, true, false, false, 0.f);  // a broadcast
    check_case<float>(4, 7, 5, 33, f & 1, f & 2, false, true, false, 0.f);  // b broadcast
    check_case<double>(5, 7, 5, 3, f & 1, f & 2, false, false, true, 0.0);  // Σ over batch
    check_case<double>(2, 7, 5, 3, f & 1, f & 2, false, false, false, 2.0); // beta
  }
  check_case<float>(2, 3, 4, 0, false, false, false, false, false, 1.f);  // k = 0 keeps beta·C
}

TEST(MatmulCpu, RowBlockPathAndThreadCountIndependence) {
  // M >= 256 with enough work takes the parallel row-block path (M not a multiple of the 128-row block).
  for (int f = 0; f < 4; ++f) {
    check_case<float>(1, 300, 33, 257, f & 1, f & 2, false, false, false, 0.f);
    check_case<double>(1, 259, 17, 1000, f & 1, f & 2, false, false, false, -1.0);
  }
  // Non-integer data: the same bits with 1 and 2 threads (row-block and K-split paths).
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{300, 33, 257}, {3, 5, 40000}}) {
    GemmShape s;
    s.m = m, s.n = n, s.k = k, s.stride_a = m * k, s.stride_b = k * n, s.stride_c = m * n;
    std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(float(i) * 0.37f);
    for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(float(i) * 0.11f);
    std::vector<float> c1(static_cast<size_t>(m * n)), c2(c1.size());
    const int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    kernels::matmul_cpu(a.data(), b.data(), c1.data(), s, 0.f);
    omp_set_num_threads(2);
    kernels::matmul_cpu(a.data(), b.data(), c2.data(), s, 0.f);
    omp_set_num_threads(nt);
    EXPECT_EQ(c1, c2) << m << "x" << n << "x" << k;
  }
}

TEST(MatmulCpu, LongInnerDimensionSplitPath) {
  // K beyond 4 chunks of 8192 with a small output takes the K-split path (partials summed in order).
  for (int f = 0; f < 4; ++f) {
    check_case<float>(1, 3, 5, 32773, f & 1, f & 2, false, false, false, 0.f);
    check_case<double>(1, 7, 2, 40000, f & 1, f & 2, false, false, false, 0.5);
  }
  check_case<float>(2, 3, 5, 32773, true, false, false, false, true, 0.f);  // summed batches
}

TEST(MatmulOp, ShapesBroadcastAndErrors) {
  Tensor a = Tensor::ones(Shape{2, 3, 4});
  Tensor b = Tensor::ones(Shape{4, 5});
  EXPECT_EQ(matmul(a, b).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(matmul(Tensor::ones(Shape{3, 4}), Tensor::ones(Shape{2, 4, 5})).shape(), (Shape{2, 3, 5}));
  EXPECT_EQ(matmul_nt(Tensor::ones(Shape{3, 4}), Tensor::ones(Shape{6, 4})).shape(), (Shape{3, 6}));
  EXPECT_EQ(matmul_tn(Tensor::ones(Shape{4, 3}), Tensor::ones(Shape{4, 6})).shape(), (Shape{3, 6}));
  EXPECT_EQ(matmul(a, b).to_vector<float>()[0], 4.f);
  EXPECT_THROW(matmul(a, Tensor::ones(Shape{3, 5})), Error);               // inner mismatch
  EXPECT_THROW(matmul(a, Tensor::ones(Shape{3, 4, 5})), Error);            // batch dims do not broadcast
  EXPECT_EQ(matmul(Tensor::ones(Shape{2, 1, 3, 4}), Tensor::ones(Shape{5, 4, 6})).shape(), (Shape{2, 5, 3, 6}));
  EXPECT_THROW(matmul(Tensor::ones(Shape{4}), b), Error);                   // 1-D
  EXPECT_THROW(matmul(a, Tensor::ones(Shape{4, 5}, DType::f64)), Error);    // dtype
  try {
    matmul(a, Tensor::ones(Shape{3, 5}));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(2, 3, 4)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(allow_tf32());
  EXPECT_EQ(matmul(Tensor::ones(Shape{0, 4}), b).shape(), (Shape{0, 5}));
  Tensor z = matmul(Tensor::ones(Shape{3, 0}), Tensor::ones(Shape{0, 2}));
  for (float v : z.to_vector<float>()) EXPECT_EQ(v, 0.f);
}

TEST(LinearOp, MatchesComposition) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, -1, 0, 2}, Shape{2, 3});
  Tensor w = Tensor::from_vector<double>({1, 0, 1, 2, -1, 0}, Shape{2, 3});
  Tensor b = Tensor::from_vector<double>({0.5, -0.5}, Shape{2});
  auto y = linear(x, w, b).to_vector<double>();
  EXPECT_EQ(y, (std::vector<double>{4.5, -0.5, 1.5, -2.5}));
  EXPECT_THROW(linear(x, Tensor::ones(Shape{2, 4}, DType::f64)), Error);
  EXPECT_THROW(linear(x, w, Tensor::ones(Shape{3}, DType::f64)), Error);
}
