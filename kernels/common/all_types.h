// SPDX-License-Identifier: Apache-2.0
// X-macro over every storage type, for explicit template instantiation in kernel sources.
#pragma once
#include "kernels/common/half_math.h"

#define LESEG_FOR_ALL_TYPES(X) \
  X(float) X(double) X(::leseg::f16_t) X(::leseg::bf16_t) X(int32_t) X(int64_t) X(uint8_t) X(bool)
#define LESEG_FOR_FLOAT_TYPES(X) X(float) X(double)
