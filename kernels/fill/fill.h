// SPDX-License-Identifier: Apache-2.0
// fill: out[i] = value for i in [0, n).   defines: fill_cpu, fill_cuda
// No backward (constant). T: every storage type (float, double, f16_t, bf16_t, int32_t, int64_t, uint8_t, bool).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
template <class T> void fill_cpu(T* out, int64_t n, T value);
template <class T> void fill_cuda(T* out, int64_t n, T value, StreamHandle stream);
}  // namespace leseg::kernels
