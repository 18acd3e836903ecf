// SPDX-License-Identifier: Apache-2.0
// The default of train.precision for a device: bf16 on a CUDA device that computes in it (sm_80 and newer), f32
// elsewhere (CPU, older GPUs). CPU bf16/f16 is the emulation: correct numerics, no speed gain.
#pragma once
#include "engine/device.h"
#include "engine/precision.h"

namespace leseg {

// Compute capability major.minor * 10 (80 = sm_80) of a CUDA device; 0 for CPU or on any CUDA error.
int cuda_compute_capability(const Device& d);
Precision default_precision(const Device& d);

}  // namespace leseg
