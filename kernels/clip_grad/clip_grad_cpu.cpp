// SPDX-License-Identifier: Apache-2.0
#include "kernels/clip_grad/clip_grad.h"

namespace leseg::kernels {

void clip_finish_cpu(const double* partials, int64_t np, NormKind k, double max_norm, double* out) {
  const ClipResult r = clip_finish(partials, np, k, max_norm);
  out[0] = r.total;
  out[1] = r.coef;
}

template <class T>
void scale_by_cpu(T* x, int64_t n, const double* coef) {
  const double c = coef[1];
  if (c == 1.0) return;  // the CUDA kernel multiplies by 1: same values
  const T a = T(c);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * a;
}

template void scale_by_cpu<float>(float*, int64_t, const double*);
template void scale_by_cpu<double>(double*, int64_t, const double*);

}  // namespace leseg::kernels
