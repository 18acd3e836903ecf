// SPDX-License-Identifier: Apache-2.0
// clip_grad_norm_: total norm of all gradients (as if concatenated), scaled in place by
// max_norm / (total + 1e-6) when that is < 1 (torch.nn.utils.clip_grad_norm_). Deterministic: fixed-chunk
// double partials combined in order. norm_type: 1, 2 or infinity. Parameters without a gradient are skipped.
// A non-finite total norm is returned without touching the gradients (the caller decides to skip the step).
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace leseg {

// The total norm as a 0-d f64 tensor on the gradients' device, and the clip that never reads it on the host: one
// partials launch per gradient into one workspace, one finish launch (kernels/clip_grad/), one scale launch per
// gradient that reads the coefficient on the device. No host sync (engine/host_sync.h); the CUDA-graph-safe form.
Tensor grad_norm_device(const std::vector<Tensor>& params, double norm_type = 2.0);
Tensor clip_grad_norm_device_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

// The same, returning the norm on the host (one read: a sync on a GPU).
double grad_norm(const std::vector<Tensor>& params, double norm_type = 2.0);
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

}  // namespace leseg
