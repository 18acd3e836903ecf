// SPDX-License-Identifier: Apache-2.0
// Per-element random draws (shared by CPU and CUDA twins of kernels/random).
#pragma once
#include "kernels/common/philox_math.h"

namespace leseg::kernels {
// Where a call's draws start in its Philox stream: element i uses index resolve() + i. `offset` alone in eager
// calls; a call recorded into a CUDA graph also adds the 64-bit word at `base`, device memory that the host
// rewrites before every replay (engine/rng.h, Generator::begin_graph), so a replay draws new numbers where a
// frozen offset would repeat the recorded ones. Read when the kernel runs, not when it is launched.
struct PhiloxOffset {
  const uint64_t* base = nullptr;
  uint64_t offset = 0;
  PhiloxOffset() = default;
  LESEG_HD PhiloxOffset(uint64_t o) : offset(o) {}  // NOLINT: an eager offset converts implicitly
  LESEG_HD PhiloxOffset(const uint64_t* b, uint64_t o) : base(b), offset(o) {}
  LESEG_HD uint64_t resolve() const { return base ? *base + offset : offset; }
};

template <class T> struct RandomDraw;
template <> struct RandomDraw<float> {
  LESEG_HD static float uniform(uint64_t s, uint64_t sub, uint64_t i) { return philox::uniform_f32(s, sub, i); }
  LESEG_HD static float normal(uint64_t s, uint64_t sub, uint64_t i) { return philox::normal_f32(s, sub, i); }
};
template <> struct RandomDraw<double> {
  LESEG_HD static double uniform(uint64_t s, uint64_t sub, uint64_t i) {
    return philox::u32pair_to_unit(philox::random_u32(s, sub, 2 * i), philox::random_u32(s, sub, 2 * i + 1));
  }
  LESEG_HD static double normal(uint64_t s, uint64_t sub, uint64_t i) {
    double u1 = philox::u32pair_to_unit(philox::random_u32(s, sub, 4 * i), philox::random_u32(s, sub, 4 * i + 1));
    double u2 = philox::u32pair_to_unit(philox::random_u32(s, sub, 4 * i + 2), philox::random_u32(s, sub, 4 * i + 3));
    return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586476925 * u2);
  }
};
}  // namespace leseg::kernels
