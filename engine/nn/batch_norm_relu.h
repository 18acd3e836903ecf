// SPDX-License-Identifier: Apache-2.0
// relu(batch_norm(x) [+ residual]) as one autograd op on CPU (kernels/batch_norm/batch_norm_relu_cpu.h: statistics
// in one pass, normalise + add + relu in one pass; backward one reduction pass + one element pass), for the sparse
// blocks (models/sparse_blocks.h). Same arguments and running-buffer updates as batch_norm (engine/ops/
// nn_functional.h); x (N, C). Elsewhere (CUDA, f16/bf16, (N, C, L) inputs) and with LESEG_FUSED_BN_RELU=0 it is
// the unfused composition relu(add(batch_norm(...), residual)), so results agree to float rounding either way
// (the one-pass statistics differ from the two-pass ones in the last bits).
#pragma once
#include "engine/tensor.h"

namespace leseg {

Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5,
                       const Tensor& residual = Tensor());
// Whether batch_norm_relu runs fused for this input (CPU, f32/f64, 2-D, not disabled by LESEG_FUSED_BN_RELU=0).
bool batch_norm_relu_fused(const Tensor& x);

}  // namespace leseg
