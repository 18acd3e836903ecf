// SPDX-License-Identifier: Apache-2.0
// CUDA batch_norm: channel sums through the deterministic two-pass reduction of channel_reduce_cuda.cuh
// (double accumulation, like the CPU twin), elementwise passes through cuda::for_each.
// Workspace layout: [partials (channel_reduce_workspace_bytes) | s0 (C doubles) | s1 (C doubles)].
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_math.h"
#include "kernels/batch_norm/channel_reduce_cuda.cuh"

namespace leseg::kernels {
namespace {
struct Ws {
  void* part;
  double* s0;
  double* s1;
};
Ws split_ws(void* ws, int64_t N, int64_t C, int64_t L) {
  char* p = static_cast<char*>(ws);
  double* s0 = reinterpret_cast<double*>(p + channel_reduce_workspace_bytes_host(N, C, L));
  return {p, s0, s0 + C};
}
}  // namespace

template <class T>
void channel_sum_cuda(const T* x, int64_t N, int64_t C, int64_t L, T* out, void* workspace, StreamHandle s) {
  if (C == 0) return;
  Ws w = split_ws(workspace, N, C, L);
  cuda::channel_reduce2(
      N, C, L, [=] __device__(int64_t n, int64_t c, int64_t l) { return cuda::Sum2d{double(x[(n * C + c) * L + l]), 0.0}; },
      w.s0, nullptr, w.part, s, "leseg::channel_sum");
  const double* s0 = w.s0;
  cuda::for_each(C, [=] __device__(int64_t c) { out[c] = T(s0[c]); }, s, "leseg::channel_sum");
}

template <class T>
void batch_norm_stats_cuda(const T* x, int64_t N, int64_t C, int64_t L, T* mean, T* var, void* workspace,
                           StreamHandle s) {
  if (C == 0) return;
  Ws w = split_ws(workspace, N, C, L);
  const int64_t M = N * L;
  cuda::channel_reduce2(
      N, C, L, [=] __device__(int64_t n, int64_t c, int64_t l) { return cuda::Sum2d{double(x[(n * C + c) * L + l]), 0.0}; },
      w.s0, nullptr, w.part, s, "leseg::batch_norm_stats");
  double* s0 = w.s0;
  cuda::for_each(C, [=] __device__(int64_t c) { s0[c] = M > 0 ? s0[c] / double(M) : 0.0; }, s, "leseg::batch_norm_stats");
  const double* mu = w.s0;
  cuda::channel_reduce2(
      N, C, L,
      [=] __device__(int64_t n, int64_t c, int64_t l) {
        double d = double(x[(n * C + c) * L + l]) - mu[c];
        return cuda::Sum2d{d * d, 0.0};
      },
      w.s1, nullptr, w.part, s, "leseg::batch_norm_stats");
  const double* q = w.s1;
  cuda::for_each(
      C,
      [=] __device__(int64_t c) {
        mean[c] = T(mu[c]);
        var[c] = T(M > 0 ? q[c] / double(M) : 0.0);
      },
      s, "leseg::batch_norm_stats");
}

template <class T>
void batch_norm_finalize_cuda(const T* mean, const T* var, int64_t C, int64_t M, double eps, double momentum,
                              T* running_mean, T* running_var, T* rstd, StreamHandle s) {
  cuda::for_each(
      C,
      [=] __device__(int64_t c) {
        rstd[c] = T(bn_rstd(double(var[c]), eps));
        if (running_mean) running_mean[c] = T(bn_running(double(running_mean[c]), double(mean[c]), momentum));
        if (running_var)
          running_var[c] = T(bn_running(double(running_var[c]), bn_unbiased(double(var[c]), M), momentum));
      },
      s, "leseg::batch_norm_finalize");
}

template <class T>
void batch_norm_forward_cuda(const T* x, const T* mean, const T* rstd, const T* w, const T* b, T* y, int64_t N,
                             int64_t C, int64_t L, StreamHandle s) {
  cuda::for_each(
      N * C * L,
      [=] __device__(int64_t i) {
        int64_t c = bn_channel(i, C, L);
        y[i] = bn_apply(x[i], mean[c], rstd[c], w ? w[c] : T(1), b ? b[c] : T(0));
      },
      s, "leseg::batch_norm_forward");
}

template <class T>
void batch_norm_backward_cuda(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t N, int64_t C,
                              int64_t L, bool training, T* dx, T* dw, T* db, void* workspace, StreamHandle s) {
  if (C == 0) return;
  Ws ws = split_ws(workspace, N, C, L);
  const int64_t M = N * L;
  cuda::channel_reduce2(
      N, C, L,
      [=] __device__(int64_t n, int64_t c, int64_t l) {
        int64_t i = (n * C + c) * L + l;
        double xhat = (double(x[i]) - double(mean[c])) * double(rstd[c]);
        return cuda::Sum2d{double(g[i]), double(g[i]) * xhat};
      },
      ws.s0, ws.s1, ws.part, s, "leseg::batch_norm_backward");
  const double* sg = ws.s0;
  const double* sgx = ws.s1;
  if (dw || db)
    cuda::for_each(
        C,
        [=] __device__(int64_t c) {
          if (dw) dw[c] = T(sgx[c]);
          if (db) db[c] = T(sg[c]);
        },
        s, "leseg::batch_norm_backward");
  if (!dx) return;
  cuda::for_each(
      N * C * L,
      [=] __device__(int64_t i) {
        int64_t c = bn_channel(i, C, L);
        const T wc = w ? w[c] : T(1);
        if (training)
          dx[i] = bn_dx_train(g[i], x[i], mean[c], rstd[c], double(wc) * double(rstd[c]), sg[c] / double(M),
                              sgx[c] / double(M));
        else
          dx[i] = g[i] * (wc * rstd[c]);
      },
      s, "leseg::batch_norm_backward");
}

#define X(T)                                                                                                     \
  template void channel_sum_cuda<T>(const T*, int64_t, int64_t, int64_t, T*, void*, StreamHandle);               \
  template void batch_norm_stats_cuda<T>(const T*, int64_t, int64_t, int64_t, T*, T*, void*, StreamHandle);      \
  template void batch_norm_finalize_cuda<T>(const T*, const T*, int64_t, int64_t, double, double, T*, T*, T*,    \
                                            StreamHandle);                                                       \
  template void batch_norm_forward_cuda<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t,        \
                                           int64_t, int64_t, StreamHandle);                                      \
  template void batch_norm_backward_cuda<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                            int64_t, bool, T*, T*, T*, void*, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
