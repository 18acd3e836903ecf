// SPDX-License-Identifier: Apache-2.0
// Fused batch norm + ReLU (+ residual), CPU (formulas: batch_norm_relu_cpu.h).
#include "kernels/batch_norm/batch_norm_relu_cpu.h"

#include <algorithm>
#include <vector>

#include "kernels/batch_norm/batch_norm_math.h"
#include "kernels/batch_norm/channel_reduce_cpu.h"
#include "kernels/common/cpu_utils.h"

namespace leseg::kernels {

namespace {
inline int64_t grain(int64_t C) { return C > 0 ? (1 << 14) / C + 1 : 1 << 14; }
}  // namespace

template <class T>
void batch_norm_stats_onepass_cpu(const T* x, int64_t N, int64_t C, T* mean, T* var) {
  std::vector<double> s1(static_cast<size_t>(C)), s2(static_cast<size_t>(C)), shift(static_cast<size_t>(C), 0.0);
  if (N > 0)
    for (int64_t c = 0; c < C; ++c) shift[size_t(c)] = double(x[c]);
  const double* sh = shift.data();
  cpu::channel_reduce2(
      N, C, 1,
      [=](int64_t n, int64_t c, int64_t) {
        const double d = double(x[n * C + c]) - sh[c];
        return cpu::Sum2{d, d * d};
      },
      s1.data(), s2.data());
  for (int64_t c = 0; c < C; ++c) {
    const double m1 = N > 0 ? s1[size_t(c)] / double(N) : 0.0, m2 = N > 0 ? s2[size_t(c)] / double(N) : 0.0;
    mean[c] = T(sh[c] + m1);
    var[c] = T(std::max(0.0, m2 - m1 * m1));
  }
}

template <class T>
void batch_norm_relu_forward_cpu(const T* x, const T* mean, const T* rstd, const T* w, const T* b, const T* residual,
                                 T* y, int64_t N, int64_t C) {
  // per-channel constants once (the formula per element stays bn_apply's)
  cpu::for_each(
      N,
      [=](int64_t n) {
        const T* xr = x + n * C;
        T* yr = y + n * C;
        if (residual) {
          const T* rr = residual + n * C;
          for (int64_t c = 0; c < C; ++c) {
            const T z = bn_apply(xr[c], mean[c], rstd[c], w ? w[c] : T(1), b ? b[c] : T(0)) + rr[c];
            yr[c] = z > T(0) ? z : T(0);
          }
        } else {
          for (int64_t c = 0; c < C; ++c) {
            const T z = bn_apply(xr[c], mean[c], rstd[c], w ? w[c] : T(1), b ? b[c] : T(0));
            yr[c] = z > T(0) ? z : T(0);
          }
        }
      },
      grain(C));
}

template <class T>
void batch_norm_relu_backward_cpu(const T* g, const T* y, const T* x, const T* mean, const T* rstd, const T* w,
                                  int64_t N, int64_t C, bool training, T* dx, T* dw, T* db, T* dresidual) {
  const int64_t M = N;
  std::vector<double> sg(static_cast<size_t>(C)), sgx(static_cast<size_t>(C));
  if (dw || db || (dx && training)) {
    cpu::channel_reduce2(
        N, C, 1,
        [=](int64_t n, int64_t c, int64_t) {
          const int64_t i = n * C + c;
          if (!(y[i] > T(0))) return cpu::Sum2{0.0, 0.0};
          const double xhat = (double(x[i]) - double(mean[c])) * double(rstd[c]);
          return cpu::Sum2{double(g[i]), double(g[i]) * xhat};
        },
        sg.data(), sgx.data());
  }
  for (int64_t c = 0; c < C; ++c) {
    if (dw) dw[c] = T(sgx[size_t(c)]);
    if (db) db[c] = T(sg[size_t(c)]);
  }
  if (!dx && !dresidual) return;
  std::vector<double> k1(static_cast<size_t>(C)), mg(static_cast<size_t>(C)), mgx(static_cast<size_t>(C));
  std::vector<T> ke(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    k1[size_t(c)] = double(w ? w[c] : T(1)) * double(rstd[c]);
    mg[size_t(c)] = M > 0 ? sg[size_t(c)] / double(M) : 0.0;
    mgx[size_t(c)] = M > 0 ? sgx[size_t(c)] / double(M) : 0.0;
    ke[size_t(c)] = (w ? w[c] : T(1)) * rstd[c];
  }
  const double* pk1 = k1.data();
  const double* pmg = mg.data();
  const double* pmgx = mgx.data();
  const T* pke = ke.data();
  cpu::for_each(
      N,
      [=](int64_t n) {
        const int64_t base = n * C;
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = base + c;
          const T gz = y[i] > T(0) ? g[i] : T(0);
          if (dresidual) dresidual[i] = gz;
          if (dx) dx[i] = training ? bn_dx_train(gz, x[i], mean[c], rstd[c], pk1[c], pmg[c], pmgx[c]) : gz * pke[c];
        }
      },
      grain(C));
}

#define X(T)                                                                                                       \
  template void batch_norm_stats_onepass_cpu<T>(const T*, int64_t, int64_t, T*, T*);                               \
  template void batch_norm_relu_forward_cpu<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*,    \
                                               int64_t, int64_t);                                                  \
  template void batch_norm_relu_backward_cpu<T>(const T*, const T*, const T*, const T*, const T*, const T*, int64_t, \
                                                int64_t, bool, T*, T*, T*, T*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
