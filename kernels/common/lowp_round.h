// SPDX-License-Identifier: Apache-2.0
// Rounding helpers of the training precisions (engine/precision.h): what a GPU's TF32 math or a bf16/f16 store does
// to a float, as __host__ __device__ bit manipulation so the CPU twins round exactly where the GPU rounds.
#pragma once
#include <cstdint>

#include "kernels/common/half_math.h"

namespace leseg {

// float -> TF32 (kept in a float: 1 sign, 8 exponent, 10 mantissa bits), rounded to nearest with ties away from
// zero as PTX's cvt.rna.tf32.f32 does; inf/NaN pass through. Tensor-core kernels that feed raw f32 bits to a tf32
// mma (which ignores the low 13 bits, i.e. truncates) must convert with cvt.rna first so that this is their twin.
LESEG_HD float round_to_tf32(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf / NaN
  u += 0x1000u;                                     // half of the dropped 13 bits: ties go away from zero
  return bits_float(u & 0xffffe000u);
}
// Round a float through a storage type and back (what a GPU store of that type does to a value).
LESEG_HD float round_through_bf16(float f) { return bf16_to_float(float_to_bf16(f)); }
LESEG_HD float round_through_f16(float f) { return f16_to_float(float_to_f16(f)); }

}  // namespace leseg
