// SPDX-License-Identifier: Apache-2.0
// cast: out[i] = Convert<To, From>(in[i]) for i in [0, n).   defines: cast_cpu, cast_cuda
// Conversions are the shared LESEG_HD ones of kernels/common/half_math.h (round to nearest even for
// f16/bf16, so CPU and CUDA give identical bits). Backward of a float->float cast is a cast back.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
template <class To, class From> void cast_cpu(const From* in, To* out, int64_t n);
template <class To, class From> void cast_cuda(const From* in, To* out, int64_t n, StreamHandle stream);
}  // namespace leseg::kernels
