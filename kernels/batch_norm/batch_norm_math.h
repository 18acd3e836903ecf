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

// Training-mode input gradient for one element: k1 = w·rstd, mg = Σg / M, mgx = Σ g·x̂ / M over the channel
// (per-channel constants, computed once per channel on CPU and per element on CUDA: the same IEEE values).
template <class T>
LESEG_HD T bn_dx_train(T g, T x, T mean, T rstd, double k1, double mg, double mgx) {
  const double xhat = (double(x) - double(mean)) * double(rstd);
  return T(k1 * (double(g) - mg - xhat * mgx));
}

}  // namespace leseg::kernels
