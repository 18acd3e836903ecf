// SPDX-License-Identifier: Apache-2.0
// Process-wide numeric switches (default off):
//   deterministic: scatter-adds on CUDA (index_select / embedding backward, index_add, scatter_add) use the
//                  sorted CSR path instead of atomics, so repeated runs give identical bits (and the CPU
//                  twin's summation order). CPU paths are always deterministic.
// TF32 is no longer a process-wide switch: allow_tf32() is engine/precision.h's per-thread setting
// (train.precision=tf32, set by the trainer with PrecisionScope).
#pragma once
#include "engine/precision.h"

namespace leseg {
void set_deterministic(bool on);
bool deterministic();
}  // namespace leseg
