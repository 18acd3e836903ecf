// SPDX-License-Identifier: Apache-2.0
// CUDA softmax: inner == 1 -> one warp per row (max and sum by shuffles, double accumulation);
// inner > 1 -> one thread per (outer, inner) column walking the dim (coalesced across inner).
#include <cfloat>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_math.h"

namespace leseg::kernels {
namespace {
constexpr int kWarps = 8;

__device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <class T>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t dim, bool log) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < rows; r += int64_t(gridDim.x) * kWarps) {
    const T* xr = x + r * dim;
    double m = -DBL_MAX;
    for (int64_t j = lane; j < dim; j += 32) m = fmax(m, double(xr[j]));
    m = warp_max(m);
    double s = 0;
    for (int64_t j = lane; j < dim; j += 32) s += exp(double(xr[j]) - m);
    s = warp_sum(s);
    for (int64_t j = lane; j < dim; j += 32) y[r * dim + j] = softmax_out(xr[j], m, s, log);
  }
}

template <class T>
__global__ void softmax_rows_backward_kernel(const T* g, const T* y, T* dx, int64_t rows, int64_t dim, bool log) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < rows; r += int64_t(gridDim.x) * kWarps) {
    const int64_t base = r * dim;
    double dot = 0;
    for (int64_t j = lane; j < dim; j += 32) dot += softmax_bwd_term(g[base + j], y[base + j], log);
    dot = warp_sum(dot);
    for (int64_t j = lane; j < dim; j += 32) dx[base + j] = softmax_bwd_out(g[base + j], y[base + j], dot, log);
  }
}
}  // namespace

template <class T>
void softmax_forward_cuda(const T* x, T* y, int64_t outer, int64_t dim, int64_t inner, bool log, StreamHandle s) {
  const int64_t rows = outer * inner;
  if (rows == 0 || dim == 0) return;
  if (inner == 1) {
    cuda::NvtxRange range("leseg::softmax_forward");
    softmax_rows_kernel<<<cuda::grid_for(rows, kWarps), kWarps * 32, 0, cuda::stream_of(s)>>>(x, y, rows, dim, log);
    LESEG_CUDA_CHECK_LAUNCH("leseg::softmax_forward");
    return;
  }
  cuda::for_each(
      rows,
      [=] __device__(int64_t row) {
        const int64_t base = (row / inner) * dim * inner + row % inner;
        double m = -DBL_MAX;
        for (int64_t j = 0; j < dim; ++j) m = fmax(m, double(x[base + j * inner]));
        double sum = 0;
        for (int64_t j = 0; j < dim; ++j) sum += exp(double(x[base + j * inner]) - m);
        for (int64_t j = 0; j < dim; ++j) y[base + j * inner] = softmax_out(x[base + j * inner], m, sum, log);
      },
      s, "leseg::softmax_forward");
}

template <class T>
void softmax_backward_cuda(const T* g, const T* y, T* dx, int64_t outer, int64_t dim, int64_t inner, bool log,
                           StreamHandle s) {
  const int64_t rows = outer * inner;
  if (rows == 0 || dim == 0) return;
  if (inner == 1) {
    cuda::NvtxRange range("leseg::softmax_backward");
    softmax_rows_backward_kernel<<<cuda::grid_for(rows, kWarps), kWarps * 32, 0, cuda::stream_of(s)>>>(g, y, dx, rows,
                                                                                                        dim, log);
    LESEG_CUDA_CHECK_LAUNCH("leseg::softmax_backward");
    return;
  }
  cuda::for_each(
      rows,
      [=] __device__(int64_t row) {
        const int64_t base = (row / inner) * dim * inner + row % inner;
        double dot = 0;
        for (int64_t j = 0; j < dim; ++j) dot += softmax_bwd_term(g[base + j * inner], y[base + j * inner], log);
        for (int64_t j = 0; j < dim; ++j) {
          const int64_t k = base + j * inner;
          dx[k] = softmax_bwd_out(g[k], y[k], dot, log);
        }
      },
      s, "leseg::softmax_backward");
}

#define X(T)                                                                                                   \
  template void softmax_forward_cuda<T>(const T*, T*, int64_t, int64_t, int64_t, bool, StreamHandle);          \
  template void softmax_backward_cuda<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
