// SPDX-License-Identifier: Apache-2.0
// IEEE half (f16) and bfloat16 storage types with round-to-nearest-even conversions, shared by CPU and
// CUDA (bit manipulation only, so both sides give identical bits). Arithmetic is done in float.
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/common/hd.h"

namespace leseg {

struct alignas(2) f16_t { uint16_t bits; };
struct alignas(2) bf16_t { uint16_t bits; };

LESEG_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u; std::memcpy(&u, &f, 4); return u;
#endif
}
LESEG_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f; std::memcpy(&f, &u, 4); return f;
#endif
}

// float -> bfloat16, round to nearest even; NaN stays a quiet NaN.
LESEG_HD bf16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_t{static_cast<uint16_t>((u >> 16) | 0x40u)};
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bf16_t{static_cast<uint16_t>((u + rounding) >> 16)};
}
LESEG_HD float bf16_to_float(bf16_t h) { return bits_float(uint32_t(h.bits) << 16); }

// float -> IEEE binary16, round to nearest even, with subnormals, overflow to inf, NaN preserved.
LESEG_HD f16_t float_to_f16(float f) {
  uint32_t u = float_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t au = u & 0x7fffffffu;
  if (au > 0x7f800000u) return f16_t{static_cast<uint16_t>(sign | 0x7e00u)};  // NaN
  if (au >= 0x477ff000u) return f16_t{static_cast<uint16_t>(sign | 0x7c00u)};  // >= 65520 rounds to inf
  if (au < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    // value = au as float; subnormal half = round(value / 2^-24)
    float a = bits_float(au);
    float scaled = a * 16777216.0f;  // 2^24, exact
    uint32_t m = static_cast<uint32_t>(scaled);
    float rem = scaled - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return f16_t{static_cast<uint16_t>(sign | m)};
  }
  uint32_t exp = ((au >> 23) - 127 + 15) << 10;
  uint32_t mant = au & 0x7fffffu;
  uint32_t h = exp | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into exponent: still correct
  return f16_t{static_cast<uint16_t>(sign | h)};
}

LESEG_HD float f16_to_float(f16_t h) {
  uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0) {
    float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return bits_float(float_bits(v) | sign);
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
  return bits_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

// Generic conversions used by cast kernels.
template <class To, class From>
struct Convert {
  LESEG_HD static To apply(From v) { return static_cast<To>(v); }
};
template <class From> struct Convert<f16_t, From> {
  LESEG_HD static f16_t apply(From v) { return float_to_f16(static_cast<float>(v)); }
};
template <class From> struct Convert<bf16_t, From> {
  LESEG_HD static bf16_t apply(From v) { return float_to_bf16(static_cast<float>(v)); }
};
template <class To> struct Convert<To, f16_t> {
  LESEG_HD static To apply(f16_t v) { return static_cast<To>(f16_to_float(v)); }
};
template <class To> struct Convert<To, bf16_t> {
  LESEG_HD static To apply(bf16_t v) { return static_cast<To>(bf16_to_float(v)); }
};
template <> struct Convert<f16_t, f16_t> { LESEG_HD static f16_t apply(f16_t v) { return v; } };
template <> struct Convert<bf16_t, bf16_t> { LESEG_HD static bf16_t apply(bf16_t v) { return v; } };
template <> struct Convert<f16_t, bf16_t> {
  LESEG_HD static f16_t apply(bf16_t v) { return float_to_f16(bf16_to_float(v)); }
};
template <> struct Convert<bf16_t, f16_t> {
  LESEG_HD static bf16_t apply(f16_t v) { return float_to_bf16(f16_to_float(v)); }
};
template <class From> struct Convert<bool, From> {
  LESEG_HD static bool apply(From v) { return v != From(0); }
};
template <> struct Convert<bool, f16_t> { LESEG_HD static bool apply(f16_t v) { return f16_to_float(v) != 0.f; } };
template <> struct Convert<bool, bf16_t> { LESEG_HD static bool apply(bf16_t v) { return bf16_to_float(v) != 0.f; } };
template <> struct Convert<bool, bool> { LESEG_HD static bool apply(bool v) { return v; } };

}  // namespace leseg
