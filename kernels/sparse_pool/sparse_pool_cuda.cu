// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cuda_utils.cuh"
#include "kernels/sparse_pool/sparse_pool.h"
#include "kernels/sparse_pool/sparse_pool_math.h"

namespace leseg::kernels {

template <class T>
void global_avg_pool_forward_cuda(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y,
                                  StreamHandle s) {
  cuda::for_each(B * C, [=] __device__(int64_t t) { y[t] = pool::avg_one(x, coords, n, C, t / C, t % C); }, s,
                 "leseg::global_avg_pool_forward");
}
template <class T>
void global_avg_pool_backward_cuda(const T* gy, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* gx,
                                   StreamHandle s) {
  // Two launches: gather gy rows, then one task per batch element counts its rows and scales them.
  cuda::for_each(
      n * C,
      [=] __device__(int64_t t) {
        const int64_t i = t / C, c = t % C;
        gx[t] = gy[int64_t(coords[4 * i]) * C + c];
      },
      s, "leseg::global_avg_pool_backward_gather");
  cuda::for_each(
      B,
      [=] __device__(int64_t b) {
        const int64_t cnt = pool::batch_count(coords, n, b);
        if (cnt == 0) return;
        for (int64_t i = 0; i < n; ++i)
          if (coords[4 * i] == b)
            for (int64_t c = 0; c < C; ++c) gx[i * C + c] = store_acc<T>(load_acc(gx[i * C + c]) / acc_t<T>(cnt));
      },
      s, "leseg::global_avg_pool_backward_scale");
}
template <class T>
void global_max_pool_forward_cuda(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y,
                                  int32_t* argmax, StreamHandle s) {
  cuda::for_each(
      B * C,
      [=] __device__(int64_t t) {
        const int32_t a = pool::argmax_one(x, coords, n, C, t / C, t % C);
        argmax[t] = a;
        y[t] = a >= 0 ? x[int64_t(a) * C + t % C] : store_acc<T>(0);
      },
      s, "leseg::global_max_pool_forward");
}
template <class T>
void global_max_pool_backward_cuda(const T* gy, const int32_t* argmax, int64_t n, int64_t C, int64_t B, T* gx,
                                   StreamHandle s) {
  LESEG_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(n * C) * sizeof(T), cuda::stream_of(s)));
  cuda::for_each(
      B * C,
      [=] __device__(int64_t t) {
        if (argmax[t] >= 0) gx[int64_t(argmax[t]) * C + t % C] = gy[t];
      },
      s, "leseg::global_max_pool_backward");
}

template <class T>
void column_concat_cuda(const T* a, const T* b, int64_t n, int64_t ca, int64_t cb, T* out, StreamHandle s) {
  const int64_t C = ca + cb;
  cuda::for_each(
      n * C,
      [=] __device__(int64_t t) {
        const int64_t i = t / C, c = t % C;
        out[t] = c < ca ? a[i * ca + c] : b[i * cb + c - ca];
      },
      s, "leseg::column_concat");
}
template <class T>
void column_split_cuda(const T* g, int64_t n, int64_t ca, int64_t cb, T* ga, T* gb, StreamHandle s) {
  const int64_t C = ca + cb;
  cuda::for_each(
      n * C,
      [=] __device__(int64_t t) {
        const int64_t i = t / C, c = t % C;
        if (c < ca) {
          if (ga) ga[i * ca + c] = g[t];
        } else if (gb) {
          gb[i * cb + c - ca] = g[t];
        }
      },
      s, "leseg::column_split");
}

#define LESEG_INST(T)                                                                                              \
  template void global_avg_pool_forward_cuda<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*,           \
                                                StreamHandle);                                                     \
  template void global_avg_pool_backward_cuda<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*,          \
                                                 StreamHandle);                                                    \
  template void global_max_pool_forward_cuda<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*, int32_t*, \
                                                StreamHandle);                                                     \
  template void global_max_pool_backward_cuda<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*,          \
                                                 StreamHandle);                                                    \
  template void column_concat_cuda<T>(const T*, const T*, int64_t, int64_t, int64_t, T*, StreamHandle);           \
  template void column_split_cuda<T>(const T*, int64_t, int64_t, int64_t, T*, T*, StreamHandle);
LESEG_INST(float)
LESEG_INST(double)
LESEG_INST(::leseg::f16_t)
LESEG_INST(::leseg::bf16_t)
#undef LESEG_INST

}  // namespace leseg::kernels
