// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 counter-based RNG (Salmon et al., SC'11), shared by CPU and CUDA so that a given
// (seed, offset) produces the same numbers on both. Element i of a random tensor drawn at stream
// offset `off` uses counter block (off + i) / 4 and lane (off + i) % 4: independent of launch shape.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::philox {

struct U4 { uint32_t x, y, z, w; };

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

LESEG_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// 10 rounds of Philox4x32 on counter c with 64-bit key (k0, k1).
LESEG_HD U4 philox4x32_10(U4 c, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, c.x, hi0, lo0);
    mulhilo(kM1, c.z, hi1, lo1);
    c = U4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

// The 32-bit random word number `idx` of the stream (seed, subsequence).
LESEG_HD uint32_t random_u32(uint64_t seed, uint64_t subsequence, uint64_t idx) {
  uint64_t block = idx >> 2;
  U4 c{uint32_t(block), uint32_t(block >> 32), uint32_t(subsequence), uint32_t(subsequence >> 32)};
  U4 r = philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
  switch (idx & 3) {
    case 0: return r.x;
    case 1: return r.y;
    case 2: return r.z;
    default: return r.w;
  }
}

// Uniform in (0, 1]: never 0, so log() is safe. 24 bits of mantissa.
LESEG_HD float u32_to_unit(uint32_t v) { return (float((v >> 8) + 1u)) * (1.0f / 16777216.0f); }
LESEG_HD double u32pair_to_unit(uint32_t a, uint32_t b) {
  uint64_t v = (uint64_t(a) << 21) ^ uint64_t(b >> 11);
  return (double((v & ((1ull << 53) - 1)) + 1ull)) * (1.0 / 9007199254740992.0);
}

// Standard normal for element i: Box-Muller on words 2i, 2i+1 of the stream (cos branch only, so each
// element depends on its own index alone).
LESEG_HD float normal_f32(uint64_t seed, uint64_t subsequence, uint64_t i) {
  float u1 = u32_to_unit(random_u32(seed, subsequence, 2 * i));
  float u2 = u32_to_unit(random_u32(seed, subsequence, 2 * i + 1));
  return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}
LESEG_HD float uniform_f32(uint64_t seed, uint64_t subsequence, uint64_t i) {
  return u32_to_unit(random_u32(seed, subsequence, i));
}

}  // namespace leseg::philox
