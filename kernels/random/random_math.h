// SPDX-License-Identifier: Apache-2.0
// Per-element random draws (shared by CPU and CUDA twins of kernels/random).
#pragma once
#include "kernels/common/philox_math.h"

namespace leseg::kernels {
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
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
  }
};
}  // namespace leseg::kernels
