// SPDX-License-Identifier: Apache-2.0
// dropout_apply: out[i] = mask[i] ? x[i] * scale : 0, scale = 1 / (1 - p).   defines: dropout_apply_cpu/cuda
// The keep mask comes from the Philox bernoulli draw (engine/rng.h: bernoulli_mask), identical on CPU and
// CUDA for the same generator state. Gradient: dx = dropout_apply(dy, mask, scale) (same mask).
// T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
template <class T> void dropout_apply_cpu(const T* x, const uint8_t* mask, T* out, int64_t n, T scale);
template <class T> void dropout_apply_cuda(const T* x, const uint8_t* mask, T* out, int64_t n, T scale, StreamHandle s);
}  // namespace leseg::kernels
