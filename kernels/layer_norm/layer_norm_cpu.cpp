// SPDX-License-Identifier: Apache-2.0
#include <cmath>
#include <vector>

#include "kernels/batch_norm/channel_reduce_cpu.h"
#include "kernels/batch_norm/channel_reduce_cuda_bytes.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/layer_norm/layer_norm.h"

namespace leseg::kernels {

size_t layer_norm_workspace_bytes(int64_t R, int64_t D) {
  return channel_reduce_workspace_bytes_host(R, D, 1) + size_t(D) * 2 * sizeof(double);
}

template <class T>
void layer_norm_forward_cpu(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t R, int64_t D,
                            double eps) {
  const int64_t grain = D > 0 ? (1 << 14) / D + 1 : 1 << 14;
  cpu::for_each(
      R,
      [=](int64_t r) {
        const T* xr = x + r * D;
        T* yr = y + r * D;
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += double(xr[d]);
        const double mu = D > 0 ? s / double(D) : 0.0;
        double q = 0;
        for (int64_t d = 0; d < D; ++d) q += (double(xr[d]) - mu) * (double(xr[d]) - mu);
        const double rs = 1.0 / std::sqrt((D > 0 ? q / double(D) : 0.0) + eps);
        for (int64_t d = 0; d < D; ++d) {
          double v = (double(xr[d]) - mu) * rs;
          yr[d] = T(v * (w ? double(w[d]) : 1.0) + (b ? double(b[d]) : 0.0));
        }
        mean[r] = T(mu);
        rstd[r] = T(rs);
      },
      grain);
}

template <class T>
void layer_norm_backward_cpu(const T* g, const T* x, const T* mean, const T* rstd, const T* w, int64_t R, int64_t D,
                             T* dx, T* dw, T* db) {
  if (dx) {
    const int64_t grain = D > 0 ? (1 << 14) / D + 1 : 1 << 14;
    cpu::for_each(
        R,
        [=](int64_t r) {
          const T* xr = x + r * D;
          const T* gr = g + r * D;
          const double mu = double(mean[r]), rs = double(rstd[r]);
          double sg = 0, sgx = 0;
          for (int64_t d = 0; d < D; ++d) {
            double gh = double(gr[d]) * (w ? double(w[d]) : 1.0);
            sg += gh;
            sgx += gh * (double(xr[d]) - mu) * rs;
          }
          const double mg = sg / double(D), mgx = sgx / double(D);
          for (int64_t d = 0; d < D; ++d) {
            double gh = double(gr[d]) * (w ? double(w[d]) : 1.0);
            double xh = (double(xr[d]) - mu) * rs;
            dx[r * D + d] = T(rs * (gh - mg - xh * mgx));
          }
        },
        grain);
  }
  if (dw || db) {
    std::vector<double> sgx(static_cast<size_t>(D)), sg(static_cast<size_t>(D));
    cpu::channel_reduce2(
        R, D, 1,
        [=](int64_t r, int64_t d, int64_t) {
          double gv = double(g[r * D + d]);
          return cpu::Sum2{gv * (double(x[r * D + d]) - double(mean[r])) * double(rstd[r]), gv};
        },
        sgx.data(), sg.data());
    for (int64_t d = 0; d < D; ++d) {
      if (dw) dw[d] = T(sgx[size_t(d)]);
      if (db) db[d] = T(sg[size_t(d)]);
    }
  }
}

#define X(T)                                                                                                    \
  template void layer_norm_forward_cpu<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, double); \
  template void layer_norm_backward_cpu<T>(const T*, const T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                           T*, T*, T*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
