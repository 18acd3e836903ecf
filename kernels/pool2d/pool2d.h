// SPDX-License-Identifier: Apache-2.0
// pool2d: max / average / adaptive-average pooling over planes (N·C, H, W), PyTorch semantics (floor mode,
// dilation 1; window arithmetic in pool2d_math.h).
//   defines: max_pool2d_{forward,backward}_{cpu,cuda}, avg_pool2d_{forward,backward}_{cpu,cuda},
//            adaptive_avg_pool2d_{forward,backward}_{cpu,cuda}
//   x (planes, H, W) -> y (planes, H_out, W_out); max also writes argmax (planes, H_out, W_out), the flat
//   index y·W + x of the maximum inside its plane (i64, as PyTorch's indices).
// Gradients: max: dx[p, argmax[p, o]] += dy[p, o] (only the winner gets it);
//            avg: dx[p, i] = Σ_{windows o ∋ i} dy[p, o] / divisor(o); adaptive: the same with window areas.
// All backward passes are written as gathers (each dx element sums its windows in a fixed order): no atomics,
// identical on CPU (OpenMP over planes·rows) and CUDA (one thread per element). Double accumulation.
// T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/pool2d/pool2d_math.h"

namespace leseg::kernels {

template <class T> void max_pool2d_forward_cpu(const T* x, T* y, int64_t* argmax, const Pool2dShape& s);
template <class T> void max_pool2d_backward_cpu(const T* dy, const int64_t* argmax, T* dx, const Pool2dShape& s);
template <class T> void avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dShape& s);
template <class T> void avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dShape& s);
template <class T> void adaptive_avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dShape& s);
template <class T> void adaptive_avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dShape& s);

template <class T>
void max_pool2d_forward_cuda(const T* x, T* y, int64_t* argmax, const Pool2dShape& s, StreamHandle stream);
template <class T>
void max_pool2d_backward_cuda(const T* dy, const int64_t* argmax, T* dx, const Pool2dShape& s, StreamHandle stream);
template <class T> void avg_pool2d_forward_cuda(const T* x, T* y, const Pool2dShape& s, StreamHandle stream);
template <class T> void avg_pool2d_backward_cuda(const T* dy, T* dx, const Pool2dShape& s, StreamHandle stream);
template <class T> void adaptive_avg_pool2d_forward_cuda(const T* x, T* y, const Pool2dShape& s, StreamHandle stream);
template <class T> void adaptive_avg_pool2d_backward_cuda(const T* dy, T* dx, const Pool2dShape& s, StreamHandle stream);

}  // namespace leseg::kernels
