// SPDX-License-Identifier: Apache-2.0
// CUDA layer_norm: one warp per row (double accumulation, shuffles), column sums for dw/db through the
// deterministic channel reduction shared with batch_norm.
#include "kernels/batch_norm/channel_reduce_cuda.cuh"
#include "kernels/layer_norm/layer_norm.h"

namespace leseg::kernels {
namespace {
constexpr int kWarps = 8;

__device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__global__ void ln_forward_kernel(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t R, int64_t D,
                                  double eps) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < R; r += int64_t(gridDim.x) * kWarps) {
    const T* xr = x + r * D;
    double s = 0;
    for (int64_t d = lane; d < D; d += 32) s += double(xr[d]);
    const double mu = D > 0 ? warp_sum(s) / double(D) : 0.0;
    double q = 0;
    for (int64_t d = lane; d < D; d += 32) q += (double(xr[d]) - mu) * (double(xr[d]) - mu);
    q = warp_sum(q);
    const double rs = 1.0 / sqrt((D > 0 ? q / double(D) : 0.0) + eps);
    for (int64_t d = lane; d < D; d += 32) {
      double v = (double(xr[d]) - mu) * rs;
      y[r * D + d] = T(v * (w ? double(w[d]) : 1.0) + (b ? double(b[d]) : 0.0));
    }
    if (lane == 0) {
      mean[r] = T(mu);
      rstd[r] = T(rs);
    }
  }
}

template <class T>
__global__ void ln_backward_dx_kernel(const T* g, const T* x, const T* mean, const T* rstd, const T* w, T* dx, int64_t R,
                                      int64_t D) {
  const int lane = threadIdx.x & 31;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5); r < R; r += int64_t(gridDim.x) * kWarps) {
    const T* xr = x + r * D;
    const T* gr = g + r * D;
    const double mu = double(mean[r]), rs = double(rstd[r]);
    double sg = 0, sgx = 0;
    for (int64_t d = lane; d < D; d += 32) {
      double gh = double(gr[d]) * (w ? double(w[d]) : 1.0);
      sg += gh;
      sgx += gh * (double(xr[d]) - mu) * rs;
    }
    const double mg = warp_sum(sg) / double(D), mgx = warp_sum(sgx) / double(D);
    for (int64_t d = lane; d < D; d += 32) {
      double gh = double(gr[d]) * (w ? double(w[d]) : 1.0);
      double xh = (double(xr[d]) - mu) * rs;
      dx[r * D + d] = T(rs * (gh - mg - xh * mgx));
    }
  }
}
}  // namespace

template <class T>
void layer_norm_forward_cuda(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t R, int64_t D,
                             double eps, StreamHandle s) {
  if (R == 0) return;
  cuda::NvtxRange range("leseg::layer_norm_forward");
  ln_forward_kernel<<<cuda::grid_for(R, kWarps), kWarps * 32, 0, cuda::stream_of(s)>>>(x, w, b, y, mean, rstd, R, D, eps);
  LESEG_CUDA_CHECK_LAUNCH("leseg::layer_norm_forward");
}

template <class T>
void layer_norm_backward_cuda(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t R, int64_t D,
                              T* dx, T* dw, T* db, void* workspace, StreamHandle s) {
  if (dx && R > 0) {
    cuda::NvtxRange range("leseg::layer_norm_backward");
    ln_backward_dx_kernel<<<cuda::grid_for(R, kWarps), kWarps * 32, 0, cuda::stream_of(s)>>>(g, x, mean, rstd, w, dx, R, D);
    LESEG_CUDA_CHECK_LAUNCH("leseg::layer_norm_backward");
  }
  if ((dw || db) && D > 0) {
    char* p = static_cast<char*>(workspace);
    double* s0 = reinterpret_cast<double*>(p + channel_reduce_workspace_bytes_host(R, D, 1));
    double* s1 = s0 + D;
    cuda::channel_reduce2(
        R, D, 1,
        [=] __device__(int64_t r, int64_t d, int64_t) {
          double gv = double(g[r * D + d]);
          return cuda::Sum2d{gv * (double(x[r * D + d]) - double(mean[r])) * double(rstd[r]), gv};
        },
        s0, s1, p, s, "leseg::layer_norm_backward_params");
    cuda::for_each(
        D,
        [=] __device__(int64_t d) {
          if (dw) dw[d] = T(s0[d]);
          if (db) db[d] = T(s1[d]);
        },
        s, "leseg::layer_norm_backward_params");
  }
}

#define X(T)                                                                                                      \
  template void layer_norm_forward_cuda<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, double,   \
                                           StreamHandle);                                                         \
  template void layer_norm_backward_cuda<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t,   \
                                            T*, T*, T*, void*, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
