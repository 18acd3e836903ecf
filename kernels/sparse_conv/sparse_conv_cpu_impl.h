// SPDX-License-Identifier: Apache-2.0
// Body of the CPU sparse conv, compiled once per instruction set (kernels/common/isa.h): included by
// sparse_conv_cpu.cpp in namespace isa_baseline and by sparse_conv_cpu_x86v3.cpp (built with -march=x86-64-v3)
// in namespace isa_x86v3. Preconditions are checked by the entry points in sparse_conv_cpu.cpp (nothing here
// may instantiate an inline template shared with the other copy, see isa.h).
//
// Forward: per offset k, the pair rows are cut into chunks of kRowChunk; each chunk gathers its input rows,
// multiplies them by W_k (Eigen GEMM on the chunk) and scatter-adds into its output rows. Within one offset
// every destination row is distinct, so chunks run in parallel without races; offsets run in order k = 0..V-1,
// and each output element is accumulated in the same order every run (deterministic). One OpenMP region per
// offset, and none for small offsets (a busy machine makes every region costly). Eigen must not open its own
// (spin-waiting) parallel GEMM: inside our regions it sees an active team and stays serial; on the serial path
// each GEMM is kept below Eigen's threading threshold (~50k multiply-adds per thread) by smaller chunks.
#ifndef LESEG_ISA_NS
#error "define LESEG_ISA_NS before including sparse_conv_cpu_impl.h"
#endif
#include <Eigen/Core>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg::kernels::LESEG_ISA_NS::sparse_conv {


constexpr int64_t kRowChunk = 256;
constexpr int64_t kGradChunk = 1024;
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
// Each thread uses its own slice of the workspace: kRowChunk * (c_a + c_b) elements.
template <class T>
void gemm_chunks(const T* src, const int32_t* idx_in, const int32_t* idx_out, int64_t P, int64_t c_a, int64_t c_b,
                 const T* B, bool transpose_b, T* ws, T* dst) {
  const bool par = P > kRowChunk && P * c_a * c_b > kParallelWork;
  const int64_t chunk = par ? kRowChunk : serial_rows(c_a, c_b);
  const int64_t chunks = (P + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < chunks; ++c) {
    T* ga = ws + int64_t(omp_get_thread_num()) * kRowChunk * (c_a + c_b);
    T* gb = ga + kRowChunk * c_a;
    const int64_t r0 = c * chunk, rows = std::min(chunk, P - r0);
    gather_rows(src, idx_in + r0, rows, c_a, ga);
    if (transpose_b)
      MapM<T>(gb, rows, c_b).noalias() = MapC<T>(ga, rows, c_a) * MapC<T>(B, c_b, c_a).transpose();
    else
      MapM<T>(gb, rows, c_b).noalias() = MapC<T>(ga, rows, c_a) * MapC<T>(B, c_a, c_b);
    scatter_add_rows(gb, idx_out + r0, rows, c_b, dst);
  }
}

// One offset of the backward, both gradients from one gather of each operand: for each chunk of the offset's
// pairs, X = x[in rows], G = gy[out rows]; the thread's partial += X^T G (weight gradient), and gx[in rows] +=
// G W_k^T (input gradient; within one offset the input rows are distinct, so chunks scatter without races).
// Chunks are dealt to threads round-robin (chunk c -> thread c mod nt), partials are added in thread order:
// the same bits for a given thread count. kGradChunk rows per chunk: the weight-gradient GEMM's inner
// dimension (larger than the forward's chunks: X^T G is a reduction over rows, and longer is faster).
template <class T>
void backward_offset(const T* x, const T* gy, const T* wk, const int32_t* in_idx, const int32_t* out_idx, int64_t P,
                     int64_t c_in, int64_t c_out, T* ws, T* partials, int nthreads, T* gwk, T* gx) {
  const bool par = P > kRowChunk && P * c_in * c_out > kParallelWork;
  const int64_t chunk = par ? kGradChunk : serial_rows(c_in, c_out);
  const int64_t chunks = (P + chunk - 1) / chunk;
  const int used = par ? std::min<int>(nthreads, int(chunks)) : 1;
#pragma omp parallel num_threads(used) if (par)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    T* xg = ws + int64_t(t) * kGradChunk * (c_in + c_out) * 2;
    T* gg = xg + kGradChunk * c_in;
    T* prod = gg + kGradChunk * c_out;  // (rows, c_in) products for the input gradient
    T* part_ptr = partials + int64_t(t) * c_in * c_out;
    MapM<T> part(part_ptr, c_in, c_out);
    if (gwk) part.setZero();
    for (int64_t c = t; c < chunks; c += nt) {
      const int64_t r0 = c * chunk, rows = std::min(chunk, P - r0);
      gather_rows(gy, out_idx + r0, rows, c_out, gg);
      if (gwk) {
        gather_rows(x, in_idx + r0, rows, c_in, xg);
        part.noalias() += MapC<T>(xg, rows, c_in).transpose() * MapC<T>(gg, rows, c_out);
      }
      if (gx) {
        MapM<T>(prod, rows, c_in).noalias() = MapC<T>(gg, rows, c_out) * MapC<T>(wk, c_in, c_out).transpose();
        scatter_add_rows(prod, in_idx + r0, rows, c_in, gx);
      }
    }
  }
  if (!gwk) return;
  MapM<T> out(gwk, c_in, c_out);
  out = MapC<T>(partials, c_in, c_out);
  for (int t = 1; t < used; ++t) out += MapC<T>(partials + int64_t(t) * c_in * c_out, c_in, c_out);
}

inline int64_t workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out) {
  const int64_t t = std::max(1, omp_get_max_threads());
  return t * (kGradChunk * (c_in + c_out) * 2 + c_in * c_out);
}

template <class T>
void forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                             int64_t c_in, int64_t c_out, T* y, T* ws) {
  for (int64_t j = 0; j < n_out; ++j)
    for (int64_t c = 0; c < c_out; ++c) y[j * c_out + c] = bias ? bias[c] : T(0);
  if (c_in == 0 || c_out == 0) return;
  for (int64_t k = 0; k < m.volume; ++k) {
    const int64_t b = m.offsets[k], P = m.offsets[k + 1] - b;
    if (P > 0) gemm_chunks(x, m.in_idx + b, m.out_idx + b, P, c_in, c_out, w + k * c_in * c_out, false, ws, y);
  }
}

template <class T>
void backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* ws) {
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
  const int nthreads = std::max(1, omp_get_max_threads());
  T* partials = ws + int64_t(nthreads) * kGradChunk * (c_in + c_out) * 2;
  for (int64_t k = 0; k < m.volume; ++k) {
    const int64_t b = m.offsets[k], P = m.offsets[k + 1] - b;
    if (P == 0) continue;
    backward_offset(x, gy, w + k * c_in * c_out, m.in_idx + b, m.out_idx + b, P, c_in, c_out, ws, partials, nthreads,
                    gw ? gw + k * c_in * c_out : nullptr, gx);
  }
}

}  // namespace leseg::kernels::LESEG_ISA_NS::sparse_conv
