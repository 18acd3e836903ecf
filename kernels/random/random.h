// SPDX-License-Identifier: Apache-2.0
// random: counter-based draws from Philox4x32-10 (kernels/common/philox_math.h).
//   uniform: out[i] in (0, 1]       normal: out[i] ~ N(0, 1)       bernoulli: out[i] = u_i < p ? 1 : 0
// Element i of a call uses stream (seed, subsequence) at index at.resolve() + i (random_math.h: PhiloxOffset, a
// plain offset or one relative to a device word rewritten before each CUDA-graph replay): identical on CPU and CUDA
// for the integer words and uniforms; normals agree to a few ulp (libm vs CUDA math).
// defines: uniform_cpu/cuda, normal_cpu/cuda, bernoulli_mask_cpu/cuda     T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/random/random_math.h"

namespace leseg::kernels {
template <class T> void uniform_cpu(T* out, int64_t n, uint64_t seed, uint64_t subsequence, PhiloxOffset at);
template <class T> void normal_cpu(T* out, int64_t n, uint64_t seed, uint64_t subsequence, PhiloxOffset at);
// mask[i] = uniform_i < keep_prob  (dropout keep mask)
void bernoulli_mask_cpu(uint8_t* mask, int64_t n, float keep_prob, uint64_t seed, uint64_t subsequence, PhiloxOffset at);

template <class T> void uniform_cuda(T* out, int64_t n, uint64_t seed, uint64_t subsequence, PhiloxOffset at, StreamHandle s);
template <class T> void normal_cuda(T* out, int64_t n, uint64_t seed, uint64_t subsequence, PhiloxOffset at, StreamHandle s);
void bernoulli_mask_cuda(uint8_t* mask, int64_t n, float keep_prob, uint64_t seed, uint64_t subsequence, PhiloxOffset at, StreamHandle s);
}  // namespace leseg::kernels
