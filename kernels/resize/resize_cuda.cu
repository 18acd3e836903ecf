// SPDX-License-Identifier: Apache-2.0
// CUDA bilinear resize: one thread per element, the CPU twin's math (resize_math.h).
#include "kernels/common/cuda_utils.cuh"
#include "kernels/resize/resize.h"

namespace leseg::kernels {

template <class T>
void resize_bilinear_forward_cuda(const T* x, T* y, const ResizeShape& s, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w;
  cuda::for_each(s.planes * O, [=] __device__(int64_t i) {
    const int64_t p = i / O, o = i % O;
    y[i] = bilinear_value(x + p * HW, s, o / s.w_out, o % s.w_out);
  }, stream, "leseg::resize_bilinear_forward");
}

template <class T>
void resize_bilinear_backward_cuda(const T* dy, T* dx, const ResizeShape& s, void* workspace, StreamHandle stream) {
  const int64_t O = s.h_out * s.w_out, HW = s.h * s.w, TW = s.h_out * s.w;
  T* t = static_cast<T*>(workspace);
  cuda::for_each(s.planes * TW, [=] __device__(int64_t i) {
    const int64_t p = i / TW, q = i % TW;
    t[i] = bilinear_backward_cols(dy + p * O, s, q / s.w, q % s.w);
  }, stream, "leseg::resize_bilinear_backward_cols");
  cuda::for_each(s.planes * HW, [=] __device__(int64_t i) {
    const int64_t p = i / HW, q = i % HW;
    dx[i] = bilinear_backward_rows(t + p * TW, s, q / s.w, q % s.w);
  }, stream, "leseg::resize_bilinear_backward_rows");
}

#define X(T)                                                                                             \
  template void resize_bilinear_forward_cuda<T>(const T*, T*, const ResizeShape&, StreamHandle);         \
  template void resize_bilinear_backward_cuda<T>(const T*, T*, const ResizeShape&, void*, StreamHandle);
X(float)
X(double)
#undef X
}  // namespace leseg::kernels
