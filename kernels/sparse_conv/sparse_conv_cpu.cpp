// SPDX-License-Identifier: Apache-2.0
// CPU twin: per offset, gather rows (OpenMP over rows) -> Eigen GEMM -> scatter-add (OpenMP over rows: within an
// offset every destination row is distinct, so the loop is race-free; offsets run in order: deterministic).
#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "kernels/common/check.h"
#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg::kernels {
namespace {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapC = Eigen::Map<const RowMat<T>>;
template <class T>
using MapM = Eigen::Map<RowMat<T>>;

template <class T>
void gather_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst) {
#pragma omp parallel for schedule(static) if (P * C > (1 << 15))
  for (int64_t p = 0; p < P; ++p) std::memcpy(dst + p * C, src + int64_t(idx[p]) * C, size_t(C) * sizeof(T));
}
template <class T>
void scatter_add_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst) {
#pragma omp parallel for schedule(static) if (P * C > (1 << 15))
  for (int64_t p = 0; p < P; ++p) {
    T* d = dst + int64_t(idx[p]) * C;
    const T* s = src + p * C;
    for (int64_t c = 0; c < C; ++c) d[c] += s[c];
  }
}

void check_map(const ConvMap& m) {
  LESEG_KCHECK(m.offsets != nullptr && m.volume >= 1, "sparse_conv: kernel map without offsets");
}

}  // namespace

template <class T>
void sparse_conv_forward_cpu(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                             int64_t c_in, int64_t c_out, T* y, T* ws) {
  check_map(m);
  for (int64_t j = 0; j < n_out; ++j)
    for (int64_t c = 0; c < c_out; ++c) y[j * c_out + c] = bias ? bias[c] : T(0);
  if (c_in == 0 || c_out == 0) return;
  for (int64_t k = 0; k < m.volume; ++k) {
    const int64_t b = m.offsets[k], P = m.offsets[k + 1] - b;
    if (P == 0) continue;
    T* xg = ws;                  // (P, C_in)
    T* yg = ws + P * c_in;       // (P, C_out)
    gather_rows(x, m.in_idx + b, P, c_in, xg);
    MapM<T>(yg, P, c_out).noalias() = MapC<T>(xg, P, c_in) * MapC<T>(w + k * c_in * c_out, c_in, c_out);
    scatter_add_rows(yg, m.out_idx + b, P, c_out, y);
  }
}

template <class T>
void sparse_conv_backward_cpu(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* ws) {
  check_map(m);
  if (gx) std::fill(gx, gx + n_in * c_in, T(0));
  if (gw) std::fill(gw, gw + m.volume * c_in * c_out, T(0));
  if (gb) {
#pragma omp parallel for schedule(static) if (c_out > 16)
    for (int64_t c = 0; c < c_out; ++c) {
      double s = 0;
      for (int64_t j = 0; j < n_out; ++j) s += double(gy[j * c_out + c]);
      gb[c] = T(s);
    }
  }
  if (c_in == 0 || c_out == 0 || (!gx && !gw)) return;
  for (int64_t k = 0; k < m.volume; ++k) {
    const int64_t b = m.offsets[k], P = m.offsets[k + 1] - b;
    if (P == 0) continue;
    T* xg = ws;             // (P, C_in)
    T* gg = ws + P * c_in;  // (P, C_out)
    MapC<T> wk(w + k * c_in * c_out, c_in, c_out);
    gather_rows(gy, m.out_idx + b, P, c_out, gg);
    if (gw) {
      gather_rows(x, m.in_idx + b, P, c_in, xg);
      MapM<T>(gw + k * c_in * c_out, c_in, c_out).noalias() = MapC<T>(xg, P, c_in).transpose() * MapC<T>(gg, P, c_out);
    }
    if (gx) {
      MapM<T>(xg, P, c_in).noalias() = MapC<T>(gg, P, c_out) * wk.transpose();
      scatter_add_rows(xg, m.in_idx + b, P, c_in, gx);
    }
  }
}

#define LESEG_INST(T)                                                                                          \
  template void sparse_conv_forward_cpu<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t,    \
                                           int64_t, int64_t, T*, T*);                                         \
  template void sparse_conv_backward_cpu<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t,   \
                                            int64_t, int64_t, T*, T*, T*, T*);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST

}  // namespace leseg::kernels
