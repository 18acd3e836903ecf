// SPDX-License-Identifier: Apache-2.0
// The finish of clip_grad_norm_ on the device (shared by the CPU twin and the CUDA kernel): the norm partials of
// every gradient, combined in index order (the order the host combined them in before, so the value is the same bit
// for bit), the total norm, and the scale coefficient max_norm / (total + 1e-6), 1 when that is >= 1 or the total is
// not finite (torch.nn.utils.clip_grad_norm_ leaves the gradients alone then; the caller decides to skip the step).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/optim/optim_math.h"

namespace leseg::kernels {

struct ClipResult {
  double total;
  double coef;
};

LESEG_HD ClipResult clip_finish(const double* partials, int64_t np, NormKind k, double max_norm) {
  double acc = 0.0;
  for (int64_t i = 0; i < np; ++i) acc = norm_combine(acc, partials[i], k);
  const double total = k == NormKind::L2 ? sqrt(acc) : acc;
  double coef = max_norm / (total + 1e-6);
  const bool finite = (total - total) == 0.0;  // false for inf and NaN (host and device alike)
  if (!(coef < 1.0) || !finite) coef = 1.0;
  return {total, coef};
}

}  // namespace leseg::kernels
