// SPDX-License-Identifier: Apache-2.0
// resize: bilinear interpolation of planes (N·C, H, W) -> (N·C, H_out, W_out), PyTorch's
// F.interpolate(mode="bilinear", size=..., align_corners=...) (taps and weights in resize_math.h).
//   defines: resize_bilinear_{forward,backward}_{cpu,cuda}, resize_bilinear_workspace_bytes
// Forward: y[p, oy, ox] = Σ_{a,b ∈ taps} w_y(oy, a) · w_x(ox, b) · x[p, a, b]  (double arithmetic).
// Gradient: the map is separable, y_p = A_y · x_p · A_xᵀ, so dx_p = A_yᵀ · dy_p · A_x, computed as two gathers
//   t = dy_p · A_x (H_out, W) then dx_p = A_yᵀ · t (each element sums its few contributors in index order):
//   no atomics, identical on CPU and CUDA. Workspace: t, planes·H_out·W values.
// T: float, double
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/resize/resize_math.h"

namespace leseg::kernels {

template <class T> size_t resize_bilinear_workspace_bytes(const ResizeShape& s) {
  return size_t(s.planes) * size_t(s.h_out) * size_t(s.w) * sizeof(T);
}
template <class T> void resize_bilinear_forward_cpu(const T* x, T* y, const ResizeShape& s);
template <class T> void resize_bilinear_backward_cpu(const T* dy, T* dx, const ResizeShape& s, void* workspace);
template <class T>
void resize_bilinear_forward_cuda(const T* x, T* y, const ResizeShape& s, StreamHandle stream);
template <class T>
void resize_bilinear_backward_cuda(const T* dy, T* dx, const ResizeShape& s, void* workspace, StreamHandle stream);

}  // namespace leseg::kernels
