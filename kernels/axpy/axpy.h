// SPDX-License-Identifier: Apache-2.0
// axpy: y[i] += alpha * x[i] for i in [0, n). Gradient accumulation and optimizer building block.
// No autograd (in place). defines: axpy_cpu, axpy_cuda      T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {
template <class T> void axpy_cpu(T* y, const T* x, int64_t n, T alpha);
template <class T> void axpy_cuda(T* y, const T* x, int64_t n, T alpha, StreamHandle s);
}  // namespace leseg::kernels
