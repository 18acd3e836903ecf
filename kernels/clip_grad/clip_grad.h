// SPDX-License-Identifier: Apache-2.0
// Gradient clipping without a host sync (engine/optim/clip_grad.cpp). Pointers only, no autograd.
//   clip_finish  partials (np doubles: the norm partials of every gradient, back to back) -> out[0] = total norm,
//                out[1] = scale coefficient (clip_grad_math.h). CUDA: one thread, fixed order, deterministic.
//   scale_by     x (n) *= T(coef[1]), coef read on the device (so the host never learns it).
#pragma once
#include <cstdint>

#include "kernels/clip_grad/clip_grad_math.h"
#include "kernels/common/hd.h"

namespace leseg::kernels {

void clip_finish_cpu(const double* partials, int64_t np, NormKind k, double max_norm, double* out);
void clip_finish_cuda(const double* partials, int64_t np, NormKind k, double max_norm, double* out, StreamHandle s);

template <class T> void scale_by_cpu(T* x, int64_t n, const double* coef);
template <class T> void scale_by_cuda(T* x, int64_t n, const double* coef, StreamHandle s);

}  // namespace leseg::kernels
