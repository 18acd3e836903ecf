// SPDX-License-Identifier: Apache-2.0
// Exponential moving average of weights (MeanTeacher teacher): teacher = m * teacher + (1 - m) * student,
// in place, outside autograd, with the fused ema_update kernel (kernels/optim). Buffers (running stats)
// are copied from the student or EMA'd too (EmaBuffers); integer buffers (num_batches_tracked) are always
// copied. Teacher and student must have the same names, shapes and dtypes (checked, naming the key).
#pragma once
#include <vector>

#include "engine/nn/module.h"

namespace leseg {

enum class EmaBuffers { copy, ema };

// Tensor-list form: teacher[i] = m * teacher[i] + (1 - m) * student[i] (floating), copy otherwise.
void ema_update(const std::vector<Tensor>& teacher, const std::vector<Tensor>& student, double momentum);
// Module form: parameters are EMA'd; buffers follow `buffers`.
void ema_update(Module& teacher, const Module& student, double momentum, EmaBuffers buffers = EmaBuffers::copy);

}  // namespace leseg
