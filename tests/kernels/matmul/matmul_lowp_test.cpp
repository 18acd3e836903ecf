// SPDX-License-Identifier: Apache-2.0
// matmul_lowp_cpu (the CPU twin of the half GEMM): every output is the f32-accumulated product of the half
// operands rounded once to the storage type; beta reads C in the storage type; shared (stride 0) operands; summed
// batches rejected with a clear message.
#include <gtest/gtest.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/common/lowp_round.h"
#include "kernels/matmul/matmul.h"

namespace leseg::kernels {
namespace {

template <class T> T from(float f);
template <> bf16_t from<bf16_t>(float f) { return float_to_bf16(f); }
template <> f16_t from<f16_t>(float f) { return float_to_f16(f); }
float tof(bf16_t v) { return bf16_to_float(v); }
float tof(f16_t v) { return f16_to_float(v); }

template <class T>
void check_case(bool ta, bool tb, float beta) {
  const int64_t B = 2, M = 5, N = 4, K = 37;
  std::vector<T> a(size_t(B * M * K)), b(size_t(K * N)), c(size_t(B * M * N));
  uint32_t st = 12345u;
  auto rnd = [&] { st = st * 1664525u + 1013904223u; return float(int32_t(st >> 8) % 2000) / 997.0f; };
  for (auto& v : a) v = from<T>(rnd());
  for (auto& v : b) v = from<T>(rnd());
  for (auto& v : c) v = from<T>(rnd());
  const std::vector<T> c0 = c;
  GemmShape s;
  s.batch = B, s.m = M, s.n = N, s.k = K, s.trans_a = ta, s.trans_b = tb;
  s.stride_a = M * K, s.stride_b = 0, s.stride_c = M * N;  // b shared by both batches
  matmul_lowp_cpu<T>(a.data(), b.data(), c.data(), s, beta);
  for (int64_t q = 0; q < B; ++q)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) {
          const float av = tof(a[size_t(q * M * K + (ta ? k * M + i : i * K + k))]);
          const float bv = tof(b[size_t(tb ? j * K + k : k * N + j)]);
          acc += double(av) * bv;
        }
        acc += double(beta) * tof(c0[size_t(q * M * N + i * N + j)]);
        const float got = tof(c[size_t(q * M * N + i * N + j)]);
        // f32 accumulation then one rounding: within one storage ulp of the exactly rounded double result
        const float want = tof(from<T>(float(acc)));
        const float ulp = std::abs(want) * (sizeof(T) == 2 && std::is_same_v<T, bf16_t> ? 1.0f / 128 : 1.0f / 1024);
        ASSERT_LE(std::abs(got - want), ulp + 1e-6f) << q << "," << i << "," << j;
        EXPECT_EQ(got, tof(from<T>(got))) << "stored value is representable";
      }
}

TEST(MatmulLowpCpu, Bf16AllTransposesAndBeta) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check_case<bf16_t>(ta, tb, ta ? 1.0f : 0.0f);
}
TEST(MatmulLowpCpu, F16AllTransposesAndBeta) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check_case<f16_t>(ta, tb, tb ? 0.5f : 0.0f);
}
TEST(MatmulLowpCpu, SummedBatchesRejected) {
  GemmShape s;
  s.batch = 2, s.m = s.n = s.k = 1, s.stride_c = 0;
  bf16_t v{0};
  EXPECT_THROW(matmul_lowp_cpu<bf16_t>(&v, &v, &v, s, 0.0f), std::exception);
}

}  // namespace
}  // namespace leseg::kernels
