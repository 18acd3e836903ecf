// SPDX-License-Identifier: Apache-2.0
// CUDA optimizer kernels: the elementwise updates are one functor each (cuda::for_each) over the shared
// math in optim_math.h. Norm partials: one block per fixed chunk of kNormChunk elements (same chunks as
// the CPU twin), fixed-order tree reduction in shared memory -> deterministic.
#include "kernels/common/cuda_utils.cuh"
#include "kernels/optim/optim.h"

namespace leseg::kernels {

template <class T>
void sgd_step_cuda(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>& h, StreamHandle s) {
  SgdParams<T> hh = h;
  cuda::for_each(n, [=] __device__(int64_t i) { sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, hh); }, s,
                 "leseg::sgd_step");
}

template <class T>
void adam_step_cuda(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>& h, StreamHandle s) {
  AdamParams<T> hh = h;
  cuda::for_each(
      n, [=] __device__(int64_t i) { adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, hh); }, s,
      "leseg::adam_step");
}

template <class T>
void ema_update_cuda(T* t, const T* src, int64_t n, T momentum, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { ema_lerp<T>(t[i], src[i], momentum); }, s, "leseg::ema_update");
}

template <class T>
void scale_cuda(T* x, int64_t n, T alpha, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { x[i] = x[i] * alpha; }, s, "leseg::scale");
}

namespace {
constexpr int kNormThreads = 256;

template <class T>
__global__ void norm_partials_kernel(const T* x, int64_t n, NormKind k, double* partials) {
  __shared__ double sh[kNormThreads];
  int64_t b = int64_t(blockIdx.x) * kNormChunk;
  int64_t e = b + kNormChunk < n ? b + kNormChunk : n;
  double acc = 0.0;
  for (int64_t i = b + threadIdx.x; i < e; i += kNormThreads) acc = norm_combine(acc, norm_term(double(x[i]), k), k);
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kNormThreads / 2; w > 0; w >>= 1) {
    if (int(threadIdx.x) < w) sh[threadIdx.x] = norm_combine(sh[threadIdx.x], sh[threadIdx.x + w], k);
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = sh[0];
}
}  // namespace

template <class T>
void norm_partials_cuda(const T* x, int64_t n, NormKind k, double* partials, StreamHandle s) {
  int64_t chunks = norm_partials_count(n);
  if (chunks == 0) return;
  cuda::NvtxRange r("leseg::norm_partials");
  norm_partials_kernel<T><<<unsigned(chunks), kNormThreads, 0, cuda::stream_of(s)>>>(x, n, k, partials);
  LESEG_CUDA_CHECK_LAUNCH("leseg::norm_partials");
}

#define X(T)                                                                                                \
  template void sgd_step_cuda<T>(T*, const T*, T*, int64_t, const SgdParams<T>&, StreamHandle);            \
  template void adam_step_cuda<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams<T>&, StreamHandle);  \
  template void ema_update_cuda<T>(T*, const T*, int64_t, T, StreamHandle);                                 \
  template void scale_cuda<T>(T*, int64_t, T, StreamHandle);                                                \
  template void norm_partials_cuda<T>(const T*, int64_t, NormKind, double*, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
