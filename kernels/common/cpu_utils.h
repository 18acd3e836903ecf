// SPDX-License-Identifier: Apache-2.0
// CPU-side helpers for kernels: the for_each twin of the CUDA launcher (OpenMP over a race-free index
// range) and a threshold below which loops stay serial (thread start-up costs more than the work).
#pragma once
#include <cstdint>

namespace leseg::kernels::cpu {

constexpr int64_t kParallelGrain = 1 << 14;

template <class F>
inline void for_each(int64_t n, F f, int64_t grain = kParallelGrain) {
  if (n <= 0) return;
  if (n < grain) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace leseg::kernels::cpu
