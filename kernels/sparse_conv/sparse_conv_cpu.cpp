// SPDX-License-Identifier: Apache-2.0
// CPU twin: per offset k, the pair rows are cut into chunks of kRowChunk; each chunk gathers its input rows,
// multiplies them by W_k (Eigen GEMM on the chunk) and scatter-adds into its output rows. Within one offset
// every destination row is distinct, so chunks run in parallel without races; offsets run in order k = 0..V-1,
// and each output element is accumulated in the same order every run (deterministic). One OpenMP region per
// offset, and none for small offsets (a busy machine makes every region costly). Eigen must not open its own
// (spin-waiting) parallel GEMM: inside our regions it sees an active team and stays serial; on the serial path
// each GEMM is kept below Eigen's threading threshold (~50k multiply-adds per thread) by smaller chunks.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "kernels/common/check.h"
#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg::kernels {
namespace {

constexpr int64_t kRowChunk = 256;
constexpr int64_t kParallelWork = int64_t(1) << 18;  // multiply-adds of one offset below which we stay serial
constexpr int64_t kSerialGemmWork = 49152;            // per-GEMM multiply-adds on the serial path (Eigen stays serial)

int64_t serial_rows(int64_t c_a, int64_t c_b) {
  return std::clamp<int64_t>(kSerialGemmWork / std::max<int64_t>(1, c_a * c_b), 1, kRowChunk);
}

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapC = Eigen::Map<const RowMat<T>>;
template <class T>
using MapM = Eigen::Map<RowMat<T>>;

template <class T>
void gather_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst) {
  for (int64_t p = 0; p < P; ++p) std::memcpy(dst + p * C, src + int64_t(idx[p]) * C, size_t(C) * sizeof(T));
}
template <class T>
void scatter_add_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst) {
  for (int64_t p = 0; p < P; ++p) {
    T* d = dst + int64_t(idx[p]) * C;
    const T* s = src + p * C;
    for (int64_t c = 0; c < C; ++c) d[c] += s[c];
  }
}

// For the chunks of one offset: dst[idx_out[p]] += src[idx_in[p]] * B, B (c_a, c_b) row-major or its transpose.
// Buffers: ga (P, c_a), gb (P, c_b) from the workspace.
template <class T>
void gemm_chunks(const T* src, const int32_t* idx_in, const int32_t* idx_out, int64_t P, int64_t c_a, int64_t c_b,
                 const T* B, bool transpose_b, T* ga, T* gb, T* dst) {
  const bool par = P > kRowChunk && P * c_a * c_b > kParallelWork;
  const int64_t chunk = par ? kRowChunk : serial_rows(c_a, c_b);
  const int64_t chunks = (P + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t r0 = c * chunk, rows = std::min(chunk, P - r0);
    gather_rows(src, idx_in + r0, rows, c_a, ga + r0 * c_a);
    if (transpose_b)
      MapM<T>(gb + r0 * c_b, rows, c_b).noalias() = MapC<T>(ga + r0 * c_a, rows, c_a) * MapC<T>(B, c_b, c_a).transpose();
    else
      MapM<T>(gb + r0 * c_b, rows, c_b).noalias() = MapC<T>(ga + r0 * c_a, rows, c_a) * MapC<T>(B, c_a, c_b);
    scatter_add_rows(gb + r0 * c_b, idx_out + r0, rows, c_b, dst);
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
    gemm_chunks(x, m.in_idx + b, m.out_idx + b, P, c_in, c_out, w + k * c_in * c_out, false, ws, ws + P * c_in, y);
  }
}

template <class T>
void sparse_conv_backward_cpu(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* ws) {
  check_map(m);
  if (gx) std::fill(gx, gx + n_in * c_in, T(0));
  if (gw) std::fill(gw, gw + m.volume * c_in * c_out, T(0));
  if (gb) {
#pragma omp parallel for schedule(static) if (n_out * c_out > kParallelWork)
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
    const T* wk = w + k * c_in * c_out;
    T* xg = ws;             // (P, C_in)
    T* gg = ws + P * c_in;  // (P, C_out)
    if (gw) {
      // gW_k = X_k^T G_k: gather both; parallel path: the C_in rows of gW_k are split over threads (each element
      // by one thread); serial path: accumulate over depth chunks small enough for Eigen to stay serial.
      MapM<T> gwk(gw + k * c_in * c_out, c_in, c_out);
      const bool par = P > kRowChunk && P * c_in * c_out > kParallelWork;
      if (par) {
        const int64_t chunks = (P + kRowChunk - 1) / kRowChunk;
#pragma omp parallel
        {
#pragma omp for schedule(static)
          for (int64_t c = 0; c < chunks; ++c) {
            const int64_t r0 = c * kRowChunk, rows = std::min(kRowChunk, P - r0);
            gather_rows(x, m.in_idx + b + r0, rows, c_in, xg + r0 * c_in);
            gather_rows(gy, m.out_idx + b + r0, rows, c_out, gg + r0 * c_out);
          }
          constexpr int64_t kColBlock = 16;
          const int64_t blocks = (c_in + kColBlock - 1) / kColBlock;
#pragma omp for schedule(static)
          for (int64_t bi = 0; bi < blocks; ++bi) {
            const int64_t a = bi * kColBlock, len = std::min(kColBlock, c_in - a);
            gwk.middleRows(a, len).noalias() = MapC<T>(xg, P, c_in).middleCols(a, len).transpose() * MapC<T>(gg, P, c_out);
          }
        }
      } else {
        gather_rows(x, m.in_idx + b, P, c_in, xg);
        gather_rows(gy, m.out_idx + b, P, c_out, gg);
        const int64_t depth = serial_rows(c_in, c_out);
        for (int64_t r0 = 0; r0 < P; r0 += depth) {
          const int64_t rows = std::min(depth, P - r0);
          gwk.noalias() += MapC<T>(xg + r0 * c_in, rows, c_in).transpose() * MapC<T>(gg + r0 * c_out, rows, c_out);
        }
      }
    }
    // gX[in] += G_k W_k^T (chunks gather gy rows again: the buffers are reused for the product)
    if (gx) gemm_chunks(gy, m.out_idx + b, m.in_idx + b, P, c_out, c_in, wk, true, gg, xg, gx);
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
