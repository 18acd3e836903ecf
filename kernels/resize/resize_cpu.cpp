// SPDX-License-Identifier: Apache-2.0
// CPU twin of bilinear resize (the specification): one element per index, OpenMP over the flat range.
#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/resize/resize.h"

namespace leseg::kernels {

template <class T>
void resize_bilinear_forward_cpu(const T* x, T* y, const ResizeShape& s) {
  LESEG_KCHECK((s.h > 0 && s.w > 0) || s.planes * s.h_out * s.w_out == 0, "resize_bilinear: empty input plane");
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * O, [=](int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = bilinear_value(x + p * HW, s, o / s.w_out, o % s.w_out);
  }, 4096);
}

template <class T>
void resize_bilinear_backward_cpu(const T* dy, T* dx, const ResizeShape& s, void* workspace) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w, TW = s.h_out * s.w;
  T* t = static_cast<T*>(workspace);
  LESEG_KCHECK(t != nullptr || s.planes * TW == 0, "resize_bilinear_backward: workspace missing");
  cpu::for_each(s.planes * TW, [=](int64_t i) {
    const int64_t p = i / TW, q = i % TW;
    t[i] = bilinear_backward_cols(dy + p * O, s, q / s.w, q % s.w);
  }, 4096);
  cpu::for_each(s.planes * HW, [=](int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = bilinear_backward_rows(t + p * TW, s, q / s.w, q % s.w);
  }, 4096);
}

#define X(T)                                                                              \
  template void resize_bilinear_forward_cpu<T>(const T*, T*, const ResizeShape&);         \
  template void resize_bilinear_backward_cpu<T>(const T*, T*, const ResizeShape&, void*);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
