// SPDX-License-Identifier: Apache-2.0
#include <vector>

#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_math.h"
#include "kernels/batch_norm/channel_reduce_cpu.h"
#include "kernels/batch_norm/channel_reduce_cuda_bytes.h"
#include "kernels/common/cpu_utils.h"

namespace leseg::kernels {

size_t batch_norm_workspace_bytes(int64_t N, int64_t C, int64_t L) {
  return channel_reduce_workspace_bytes_host(N, C, L) + size_t(C) * 2 * sizeof(double);
}

template <class T>
void channel_sum_cpu(const T* x, int64_t N, int64_t C, int64_t L, T* out) {
  std::vector<double> s(static_cast<size_t>(C));
  cpu::channel_reduce2(
      N, C, L, [=](int64_t n, int64_t c, int64_t l) { return cpu::Sum2{double(x[(n * C + c) * L + l]), 0.0}; },
      s.data(), nullptr);
  for (int64_t c = 0; c < C; ++c) out[c] = T(s[size_t(c)]);
}

template <class T>
void batch_norm_stats_cpu(const T* x, int64_t N, int64_t C, int64_t L, T* mean, T* var) {
  const int64_t M = N * L;
  std::vector<double> s(static_cast<size_t>(C)), q(static_cast<size_t>(C));
  auto at = [=](int64_t n, int64_t c, int64_t l) { return double(x[(n * C + c) * L + l]); };
  cpu::channel_reduce2(N, C, L, [&](int64_t n, int64_t c, int64_t l) { return cpu::Sum2{at(n, c, l), 0.0}; }, s.data(),
                       nullptr);
  for (int64_t c = 0; c < C; ++c) s[size_t(c)] = M > 0 ? s[size_t(c)] / double(M) : 0.0;
  const double* mu = s.data();
  cpu::channel_reduce2(
      N, C, L,
      [&](int64_t n, int64_t c, int64_t l) {
        double d = at(n, c, l) - mu[c];
        return cpu::Sum2{d * d, 0.0};
      },
      q.data(), nullptr);
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = T(s[size_t(c)]);
    var[c] = T(M > 0 ? q[size_t(c)] / double(M) : 0.0);
  }
}

template <class T>
void batch_norm_finalize_cpu(const T* mean, const T* var, int64_t C, int64_t M, double eps, double momentum,
                             T* running_mean, T* running_var, T* rstd) {
  for (int64_t c = 0; c < C; ++c) {
    rstd[c] = T(bn_rstd(double(var[c]), eps));
    if (running_mean) running_mean[c] = T(bn_running(double(running_mean[c]), double(mean[c]), momentum));
    if (running_var) running_var[c] = T(bn_running(double(running_var[c]), bn_unbiased(double(var[c]), M), momentum));
  }
}

template <class T>
void batch_norm_forward_cpu(const T* x, const T* mean, const T* rstd, const T* w, const T* b, T* y, int64_t N,
                            int64_t C, int64_t L) {
  const int64_t row = C * L;
  cpu::for_each(
      N,
      [=](int64_t n) {
        for (int64_t c = 0; c < C; ++c) {
          const T m = mean[c], r = rstd[c], wc = w ? w[c] : T(1), bc = b ? b[c] : T(0);
          const int64_t base = n * row + c * L;
          for (int64_t l = 0; l < L; ++l) y[base + l] = bn_apply(x[base + l], m, r, wc, bc);
        }
      },
      row > 0 ? (1 << 14) / row + 1 : 1 << 14);
}

template <class T>
void batch_norm_backward_cpu(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t N, int64_t C,
                             int64_t L, bool training, T* dx, T* dw, T* db) {
  const int64_t M = N * L;
  std::vector<double> sg(static_cast<size_t>(C)), sgx(static_cast<size_t>(C));
  cpu::channel_reduce2(
      N, C, L,
      [=](int64_t n, int64_t c, int64_t l) {
        int64_t i = (n * C + c) * L + l;
        double xhat = (double(x[i]) - double(mean[c])) * double(rstd[c]);
        return cpu::Sum2{double(g[i]), double(g[i]) * xhat};
      },
      sg.data(), sgx.data());
  for (int64_t c = 0; c < C; ++c) {
    if (dw) dw[c] = T(sgx[size_t(c)]);
    if (db) db[c] = T(sg[size_t(c)]);
  }
  if (!dx) return;
  // Per-channel constants of dx (host scratch, 3·C doubles).
  std::vector<double> k1(static_cast<size_t>(C)), mg(static_cast<size_t>(C)), mgx(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    k1[size_t(c)] = double(w ? w[c] : T(1)) * double(rstd[c]);
    mg[size_t(c)] = sg[size_t(c)] / double(M);
    mgx[size_t(c)] = sgx[size_t(c)] / double(M);
  }
  const double* pk1 = k1.data();
  const double* pmg = mg.data();
  const double* pmgx = mgx.data();
  const int64_t row = C * L;
  cpu::for_each(
      N,
      [=](int64_t n) {
        for (int64_t c = 0; c < C; ++c) {
          const int64_t base = n * row + c * L;
          if (training) {
            for (int64_t l = 0; l < L; ++l)
              dx[base + l] = bn_dx_train(g[base + l], x[base + l], mean[c], rstd[c], pk1[c], pmg[c], pmgx[c]);
          } else {
            const T k = (w ? w[c] : T(1)) * rstd[c];
            for (int64_t l = 0; l < L; ++l) dx[base + l] = g[base + l] * k;
          }
        }
      },
      row > 0 ? (1 << 14) / row + 1 : 1 << 14);
}

#define X(T)                                                                                                   \
  template void channel_sum_cpu<T>(const T*, int64_t, int64_t, int64_t, T*);                                   \
  template void batch_norm_stats_cpu<T>(const T*, int64_t, int64_t, int64_t, T*, T*);                          \
  template void batch_norm_finalize_cpu<T>(const T*, const T*, int64_t, int64_t, double, double, T*, T*, T*);  \
  template void batch_norm_forward_cpu<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t,       \
                                          int64_t, int64_t);                                                   \
  template void batch_norm_backward_cpu<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t, \
                                           int64_t, bool, T*, T*, T*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
