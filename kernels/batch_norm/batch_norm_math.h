// SPDX-License-Identifier: Apache-2.0
// Per-element batch-norm formulas shared by the CPU twin and the CUDA kernels.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

LESEG_HD int64_t bn_channel(int64_t i, int64_t C, int64_t L) { return (i / L) % C; }

LESEG_HD double bn_rstd(double var, double eps) { return 1.0 / sqrt(var + eps); }

// New running value: (1 − m)·old + m·batch.
LESEG_HD double bn_running(double old, double batch, double momentum) { return (1.0 - momentum) * old + momentum * batch; }

// Unbiased variance from the biased one over M samples (M == 1: the biased value, as there is no spread).
LESEG_HD double bn_unbiased(double var, int64_t M) { return M > 1 ? var * double(M) / double(M - 1) : var; }

template <class T>
LESEG_HD T bn_apply(T x, T mean, T rstd, T w, T b) {
  return (x - mean) * rstd * w + b;
}

// Training-mode input gradient for one element; sg = Σ g, sgx = Σ g·x̂ over the channel, M samples.
template <class T>
LESEG_HD T bn_dx_train(T g, T xhat, T w, T rstd, double sg, double sgx, int64_t M) {
  return T(double(w) * double(rstd) * (double(g) - sg / double(M) - double(xhat) * sgx / double(M)));
}

}  // namespace leseg::kernels
