// SPDX-License-Identifier: Apache-2.0
// CPU twin of pool2d (the specification): one element per index, OpenMP over the flat output / input range.
#include "kernels/common/cpu_utils.h"
#include "kernels/pool2d/pool2d.h"

namespace leseg::kernels {

template <class T>
void max_pool2d_forward_cpu(const T* x, T* y, int64_t* argmax, const Pool2dShape& s) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * O, [=](int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = max_window(x + p * HW, s, o / s.w_out, o % s.w_out, argmax[i]);
  }, 4096);
}
template <class T>
void max_pool2d_backward_cpu(const T* dy, const int64_t* argmax, T* dx, const Pool2dShape& s) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * HW, [=](int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = max_backward_value<T, double>(dy + p * O, argmax + p * O, s, q / s.w, q % s.w);
  }, 4096);
}
template <class T>
void avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dShape& s) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * O, [=](int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = avg_window<T, double>(x + p * HW, s, o / s.w_out, o % s.w_out);
  }, 4096);
}
template <class T>
void avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dShape& s) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * HW, [=](int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = avg_backward_value<T, double>(dy + p * O, s, q / s.w, q % s.w);
  }, 4096);
}
template <class T>
void adaptive_avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dShape& s) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * O, [=](int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = adaptive_avg_value<T, double>(x + p * HW, s, o / s.w_out, o % s.w_out);
  }, O >= 64 ? 4096 : 16);
}
template <class T>
void adaptive_avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dShape& s) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cpu::for_each(s.planes * HW, [=](int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = adaptive_avg_backward_value<T, double>(dy + p * O, s, q / s.w, q % s.w);
  }, 4096);
}

#define X(T)                                                                                       \
  template void max_pool2d_forward_cpu<T>(const T*, T*, int64_t*, const Pool2dShape&);             \
  template void max_pool2d_backward_cpu<T>(const T*, const int64_t*, T*, const Pool2dShape&);      \
  template void avg_pool2d_forward_cpu<T>(const T*, T*, const Pool2dShape&);                       \
  template void avg_pool2d_backward_cpu<T>(const T*, T*, const Pool2dShape&);                      \
  template void adaptive_avg_pool2d_forward_cpu<T>(const T*, T*, const Pool2dShape&);              \
  template void adaptive_avg_pool2d_backward_cpu<T>(const T*, T*, const Pool2dShape&);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
