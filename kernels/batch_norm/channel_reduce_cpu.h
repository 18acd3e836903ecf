// SPDX-License-Identifier: Apache-2.0
// Per-channel sums over an (N, C, L) layout on CPU, double accumulation, deterministic for any thread
// count: rows are cut into a fixed number of chunks (a function of N only), each chunk sums into its own
// partial row, and partials are added in chunk order. Shared by batch_norm, layer_norm (weight/bias grads,
// as (R, D, 1)) and linear (bias grad). Host scratch: chunks * C * 2 doubles (a local vector).
//   s0[c] = Σ_{n,l} f(n, c, l).a      s1[c] = Σ_{n,l} f(n, c, l).b
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace leseg::kernels::cpu {

struct Sum2 {
  double a = 0, b = 0;
};

template <class F>
void channel_reduce2(int64_t N, int64_t C, int64_t L, F f, double* s0, double* s1) {
  for (int64_t c = 0; c < C; ++c) {
    s0[c] = 0;
    if (s1) s1[c] = 0;
  }
  if (N == 0 || C == 0 || L == 0) return;
  const int64_t work = N * C * L;
  if (N < 8 || work < (1 << 15)) {
    // Few rows: one pass per channel, parallel over channels when the work is large enough.
#pragma omp parallel for schedule(static) if (work >= (1 << 15) && C > 1)
    for (int64_t c = 0; c < C; ++c) {
      double a = 0, b = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = 0; l < L; ++l) {
          Sum2 v = f(n, c, l);
          a += v.a;
          b += v.b;
        }
      s0[c] = a;
      if (s1) s1[c] = b;
    }
    return;
  }
  const int64_t chunks = std::min<int64_t>(64, N);
  std::vector<double> part(size_t(chunks * C * 2), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t n0 = N * k / chunks, n1 = N * (k + 1) / chunks;
    double* pa = part.data() + k * C * 2;
    double* pb = pa + C;
    if (L == 1) {  // (N, C) point features: the inner loop runs over contiguous channels
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t c = 0; c < C; ++c) {
          Sum2 v = f(n, c, int64_t(0));
          pa[c] += v.a;
          pb[c] += v.b;
        }
      continue;
    }
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t l = 0; l < L; ++l) {
          Sum2 v = f(n, c, l);
          pa[c] += v.a;
          pb[c] += v.b;
        }
  }
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t c = 0; c < C; ++c) {
      s0[c] += part[size_t(k * C * 2 + c)];
      if (s1) s1[c] += part[size_t(k * C * 2 + C + c)];
    }
}

}  // namespace leseg::kernels::cpu
