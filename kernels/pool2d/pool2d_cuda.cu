// SPDX-License-Identifier: Apache-2.0
// CUDA pool2d: one thread per output (forward) or input element (backward gathers), the same math as the CPU twin.
#include "kernels/common/cuda_utils.cuh"
#include "kernels/pool2d/pool2d.h"

namespace leseg::kernels {

template <class T>
void max_pool2d_forward_cuda(const T* x, T* y, int64_t* argmax, const Pool2dShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * O, [=] __device__(int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = max_window(x + p * HW, s, o / s.w_out, o % s.w_out, argmax[i]);
  }, stream, "leseg::pool2d");
}
template <class T>
void max_pool2d_backward_cuda(const T* dy, const int64_t* argmax, T* dx, const Pool2dShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * HW, [=] __device__(int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = max_backward_value<T, double>(dy + p * O, argmax + p * O, s, q / s.w, q % s.w);
  }, stream, "leseg::pool2d");
}
template <class T>
void avg_pool2d_forward_cuda(const T* x, T* y, const Pool2dShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * O, [=] __device__(int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = avg_window<T, double>(x + p * HW, s, o / s.w_out, o % s.w_out);
  }, stream, "leseg::pool2d");
}
template <class T>
void avg_pool2d_backward_cuda(const T* dy, T* dx, const Pool2dShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * HW, [=] __device__(int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = avg_backward_value<T, double>(dy + p * O, s, q / s.w, q % s.w);
  }, stream, "leseg::pool2d");
}
template <class T>
void adaptive_avg_pool2d_forward_cuda(const T* x, T* y, const Pool2dShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * O, [=] __device__(int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = adaptive_avg_value<T, double>(x + p * HW, s, o / s.w_out, o % s.w_out);
  }, stream, "leseg::pool2d");
}
template <class T>
void adaptive_avg_pool2d_backward_cuda(const T* dy, T* dx, const Pool2dShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * HW, [=] __device__(int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = adaptive_avg_backward_value<T, double>(dy + p * O, s, q / s.w, q % s.w);
  }, stream, "leseg::pool2d");
}

#define X(T)                                                                                       \
  template void max_pool2d_forward_cuda<T>(const T*, T*, int64_t*, const Pool2dShape&, StreamHandle);             \
  template void max_pool2d_backward_cuda<T>(const T*, const int64_t*, T*, const Pool2dShape&, StreamHandle);      \
  template void avg_pool2d_forward_cuda<T>(const T*, T*, const Pool2dShape&, StreamHandle);                       \
  template void avg_pool2d_backward_cuda<T>(const T*, T*, const Pool2dShape&, StreamHandle);                      \
  template void adaptive_avg_pool2d_forward_cuda<T>(const T*, T*, const Pool2dShape&, StreamHandle);              \
  template void adaptive_avg_pool2d_backward_cuda<T>(const T*, T*, const Pool2dShape&, StreamHandle);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
