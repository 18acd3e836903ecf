// SPDX-License-Identifier: Apache-2.0
// CPU twin of bilinear resize (the specification): one element per index, OpenMP over the flat range.
#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/resize/resize.h"

namespace leseg::kernels {

template <class T>
void resize_bilinear_forward_cpu(const T* x, T* y, const ResizeShape& s) {
  LESEG_KCHECK((s.h > 0 && s.w > 0) || s.planes * s.h_out * s.w_out == 0, "resize_bilinear: empty input plane");
  const int64_t HW = s.h * s.w;
  // One output row per task: the row taps are computed once (the same arithmetic as bilinear_value).
  cpu::for_each(s.planes * s.h_out, [=](int64_t row) {
    const int64_t p = row / s.h_out, oy = row % s.h_out;
    const T* xp = x + p * HW;
    const Taps ty = bilinear_taps(oy, s.h, s.h_out, s.align_corners);
    const T* r0 = xp + ty.i0 * s.w;
    const T* r1 = xp + ty.i1 * s.w;
    T* out = y + row * s.w_out;
    for (int64_t ox = 0; ox < s.w_out; ++ox) {
      const Taps tx = bilinear_taps(ox, s.w, s.w_out, s.align_corners);
      out[ox] = T(ty.l0 * (tx.l0 * double(r0[tx.i0]) + tx.l1 * double(r0[tx.i1])) +
                  ty.l1 * (tx.l0 * double(r1[tx.i0]) + tx.l1 * double(r1[tx.i1])));
    }
  }, 64);
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
