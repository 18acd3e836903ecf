// SPDX-License-Identifier: Apache-2.0
// clip_grad_norm_: total norm of all gradients (as if concatenated), scaled in place by
// max_norm / (total + 1e-6) when that is < 1 (torch.nn.utils.clip_grad_norm_). Deterministic: fixed-chunk
// double partials combined in order. norm_type: 1, 2 or infinity. Parameters without a gradient are skipped.
// A non-finite total norm is returned without touching the gradients (the caller decides to skip the step).
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace leseg {

double grad_norm(const std::vector<Tensor>& params, double norm_type = 2.0);
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

}  // namespace leseg
