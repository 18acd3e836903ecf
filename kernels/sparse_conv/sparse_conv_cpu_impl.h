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

// One row copy. The common row sizes get a constant-size copy the compiler inlines as a few vector moves: a
// library memcpy call per 128-byte row costs as much as the copy.
inline void copy_row_bytes(void* dst, const void* src, size_t bytes) {
  switch (bytes) {
    case 64: std::memcpy(dst, src, 64); return;
    case 128: std::memcpy(dst, src, 128); return;
    case 256: std::memcpy(dst, src, 256); return;
    case 512: std::memcpy(dst, src, 512); return;
    default:
      if (bytes % 64 == 0 && bytes <= 2048) {  // 96 / 192 channels etc.: 64-byte pieces, no library call
        auto* d = static_cast<unsigned char*>(dst);
        const auto* s = static_cast<const unsigned char*>(src);
        for (size_t i = 0; i < bytes; i += 64) std::memcpy(d + i, s + i, 64);
        return;
      }
      std::memcpy(dst, src, bytes);
  }
}
template <class T>
void gather_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst) {
  const size_t bytes = size_t(C) * sizeof(T);
  for (int64_t p = 0; p < P; ++p) copy_row_bytes(dst + p * C, src + int64_t(idx[p]) * C, bytes);
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

// ---------------------------------------------------------------- output-stationary form
// Over the neighbour table nbr (V, n_dst): nbr[k][j] = the source row of destination row j at offset k, or -1.
// Destination rows are cut into blocks of `rows` (chosen from the channel counts by the entry point, never from the
// thread count);
// a block is owned by one thread, which for k = 0..V-1 gathers the block's present neighbours (compacted), multiplies
// them by B_k (one GEMM of at most `rows` rows) and adds the products into its own rows. No scatter into shared
// rows, no partials: every destination element is bias + sum_k in the same order whatever the thread count or the
// schedule, so the bits do not depend on either. One parallel region per conv (blocks dealt dynamically).

// dst[j0 .. j0 + rows) += sum_k src[nbr[k][j]] * B_k; B_k = W_k (c_a, c_b) or, transpose_w, W_k^T with W_k (c_b, c_a).
template <class T>
void os_block(const T* src, const int32_t* nbr, int64_t n_dst, int64_t V, int64_t c_a, int64_t c_b, const T* w,
              bool transpose_w, int64_t j0, int64_t rows, T* ws, T* dst) {
  T* A = ws;
  T* P = A + rows * c_a;
  int32_t* loc = reinterpret_cast<int32_t*>(P + rows * c_b);  // rows T-sized slots >= rows int32
  MapM<T> D(dst + j0 * c_b, rows, c_b);
  for (int64_t k = 0; k < V; ++k) {
    const int32_t* nk = nbr + k * n_dst + j0;
    int64_t m = 0;
    for (int64_t r = 0; r < rows; ++r)
      if (nk[r] >= 0) {
        loc[m] = int32_t(r);
        copy_row_bytes(A + m * c_a, src + int64_t(nk[r]) * c_a, size_t(c_a) * sizeof(T));
        ++m;
      }
    if (m == 0) continue;
    const T* wk = w + k * c_a * c_b;
    if (m == rows) {  // every row present (the centre offset of a submanifold conv): accumulate in place
      if (transpose_w)
        D.noalias() += MapC<T>(A, m, c_a) * MapC<T>(wk, c_b, c_a).transpose();
      else
        D.noalias() += MapC<T>(A, m, c_a) * MapC<T>(wk, c_a, c_b);
      continue;
    }
    if (transpose_w)
      MapM<T>(P, m, c_b).noalias() = MapC<T>(A, m, c_a) * MapC<T>(wk, c_b, c_a).transpose();
    else
      MapM<T>(P, m, c_b).noalias() = MapC<T>(A, m, c_a) * MapC<T>(wk, c_a, c_b);
    for (int64_t i = 0; i < m; ++i) {
      T* d = dst + (j0 + loc[i]) * c_b;
      const T* s = P + i * c_b;
      for (int64_t c = 0; c < c_b; ++c) d[c] += s[c];
    }
  }
}

// With more than one OpenMP thread the team is always opened (one fork/join per conv, not per offset): inside an
// active team Eigen keeps its GEMMs serial, which it would not do on a serial path (see the top of this file).
inline bool os_team() { return omp_get_max_threads() > 1; }

// dst (n_dst, c_b) = init (bias row or 0) + sum_k ... over blocks; per-thread slice stride ws_stride elements.
template <class T>
void os_conv(const T* src, const int32_t* nbr, int64_t n_dst, int64_t V, int64_t c_a, int64_t c_b,
             const T* w, bool transpose_w, const T* bias, T* ws, int64_t ws_stride, T* dst, int64_t block_rows) {
  const int64_t blocks = (n_dst + block_rows - 1) / block_rows;
#pragma omp parallel if (os_team())
  {
    T* wt = ws + int64_t(omp_get_thread_num()) * ws_stride;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t j0 = b * block_rows, rows = std::min(block_rows, n_dst - j0);
      for (int64_t j = j0; j < j0 + rows; ++j)
        for (int64_t c = 0; c < c_b; ++c) dst[j * c_b + c] = bias ? bias[c] : T(0);
      os_block(src, nbr, n_dst, V, c_a, c_b, w, transpose_w, j0, rows, wt, dst);
    }
  }
}

// ---------------------------------------------------------------- backward of the output-stationary form
// Both gradients in one pass over the INPUT rows (nbr_in[k][j] = the output row that input row j feeds at offset k,
// or -1). Blocks of `rows` input rows; for each block and offset k, with the present pairs compacted:
//   A = gy[nbr_in[k][j]] (one gather),  X = x[j] (a copy of the block's own rows)
//   gx[j]  += A W_k^T      (the block owns its rows: no races, no partials; bits as the forward's)
//   gW_k   += X^T A        (into the weight-gradient partial of the block's group)
// One gather of gy serves both gradients, and a block's neighbourhood stays in cache across the V offsets, where the
// per-offset form used before (gW_k = X_k^T G_k over the offset's pair list, one gather of each operand) streamed x and
// gy through memory once per offset. Measured at 108k voxels, 1 thread, AVX-512, C 96 -> 96: gx 195 ms + gW 262 ms
// before, 403 ms for both now (docs/cpu-performance.md, fourth round).
// Determinism: the blocks are cut into grad_groups(blocks, pairs, V) contiguous groups, a number fixed by the problem, never by
// the thread count; one thread sums a group's blocks in order into the group's partial (group 0's is gW itself), and
// gW = partial_0 + partial_1 + ... in group order, element by element. The same bits for any thread count and schedule.
// Groups are also the units the threads share, so a conv with little work per weight (deep, narrow layers: a few
// hundred rows against V*C_in*C_out weights) gets fewer: each group covers at least kPairsPerGroupPerOffset * V pairs,
// so zeroing and adding its partial (V*C_in*C_out) costs at most ~1/64 of its weight-gradient GEMMs (at 12k voxels
// the fixed 8 groups made a MinkUNet14A step 25% slower per voxel).
constexpr int64_t kGradGroups = 8;
constexpr int64_t kPairsPerGroupPerOffset = 64;
inline int64_t grad_groups(int64_t blocks, int64_t pairs, int64_t V) {
  const int64_t by_work = pairs / (kPairsPerGroupPerOffset * std::max<int64_t>(1, V));
  return std::max<int64_t>(1, std::min<int64_t>(std::min<int64_t>(kGradGroups, blocks), by_work));
}

template <class T>
void os_backward(const T* x, const T* gy, const int32_t* nbr, int64_t n_in, int64_t V, int64_t pairs, int64_t c_in,
                 int64_t c_out, const T* w, T* gx, T* gw, T* partials, T* ws, int64_t ws_stride, int64_t block_rows) {
  const int64_t blocks = (n_in + block_rows - 1) / block_rows;
  const int64_t groups = grad_groups(blocks, pairs, V);
  const int64_t wsz = V * c_in * c_out;
  const size_t in_bytes = size_t(c_in) * sizeof(T), out_bytes = size_t(c_out) * sizeof(T);
#pragma omp parallel if (os_team())
  {
    // per thread: A (rows, c_out), X (rows, c_in), products (rows, c_in), rows int32 slots: rows * (c_out + 2 c_in + 1)
    // elements, within thread_slice() for rows <= kMaxOsRows
    T* A = ws + int64_t(omp_get_thread_num()) * ws_stride;
    T* X = A + block_rows * c_out;
    T* P = X + block_rows * c_in;
    int32_t* loc = reinterpret_cast<int32_t*>(P + block_rows * c_in);  // block_rows T-sized slots >= block_rows int32
#pragma omp for schedule(dynamic, 1)
    for (int64_t g = 0; g < groups; ++g) {
      T* part = gw ? (g == 0 ? gw : partials + (g - 1) * wsz) : nullptr;
      if (part)
        for (int64_t e = 0; e < wsz; ++e) part[e] = T(0);
      const int64_t b0 = g * blocks / groups, b1 = (g + 1) * blocks / groups;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t j0 = b * block_rows, rows = std::min(block_rows, n_in - j0);
        if (gx)
          for (int64_t e = j0 * c_in; e < (j0 + rows) * c_in; ++e) gx[e] = T(0);
        for (int64_t k = 0; k < V; ++k) {
          const int32_t* nk = nbr + k * n_in + j0;
          int64_t m = 0;
          for (int64_t r = 0; r < rows; ++r)
            if (nk[r] >= 0) {
              loc[m] = int32_t(r);
              copy_row_bytes(A + m * c_out, gy + int64_t(nk[r]) * c_out, out_bytes);
              if (part) copy_row_bytes(X + m * c_in, x + (j0 + r) * c_in, in_bytes);
              ++m;
            }
          if (m == 0) continue;
          const T* wk = w + k * c_in * c_out;  // W_k (c_in, c_out)
          if (part)
            MapM<T>(part + k * c_in * c_out, c_in, c_out).noalias() +=
                MapC<T>(X, m, c_in).transpose() * MapC<T>(A, m, c_out);
          if (!gx) continue;
          if (m == rows) {  // every row present (the centre offset of a submanifold conv): accumulate in place
            MapM<T>(gx + j0 * c_in, rows, c_in).noalias() += MapC<T>(A, m, c_out) * MapC<T>(wk, c_in, c_out).transpose();
            continue;
          }
          MapM<T>(P, m, c_in).noalias() = MapC<T>(A, m, c_out) * MapC<T>(wk, c_in, c_out).transpose();
          for (int64_t i = 0; i < m; ++i) {
            T* d = gx + (j0 + loc[i]) * c_in;
            const T* s = P + i * c_in;
            for (int64_t c = 0; c < c_in; ++c) d[c] += s[c];
          }
        }
      }
    }
    if (gw && groups > 1) {  // gW = partial_0 + partial_1 + ... in group order, element by element
#pragma omp for schedule(static)
      for (int64_t e = 0; e < wsz; ++e) {
        T acc = gw[e];
        for (int64_t g = 1; g < groups; ++g) acc += partials[(g - 1) * wsz + e];
        gw[e] = acc;
      }
    }
  }
}

// Per thread one gather-form slice (kGradChunk rows of each operand, twice) and one (C_in, C_out) partial; plus, for
// the output-stationary backward, kGradGroups - 1 weight-gradient partials (V, C_in, C_out).
inline int64_t forward_workspace_elems(int64_t c_in, int64_t c_out) {
  const int64_t t = std::max(1, omp_get_max_threads());
  return t * (kGradChunk * (c_in + c_out) * 2 + c_in * c_out);
}
inline int64_t workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out) {
  return forward_workspace_elems(c_in, c_out) + (kGradGroups - 1) * m.volume * c_in * c_out;
}

inline int64_t thread_slice(int64_t c_in, int64_t c_out) { return kGradChunk * (c_in + c_out) * 2; }

// os_rows > 0: the output-stationary form over the neighbour tables with blocks of os_rows output rows (used only
// where the map carries the tables; os_rows <= kMaxOsRows fits the workspace); 0: gather-GEMM-scatter.
constexpr int64_t kMaxOsRows = 1024;
template <class T>
void forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                             int64_t c_in, int64_t c_out, T* y, T* ws, int64_t os_rows) {
  if (os_rows > 0 && m.nbr_out && c_in > 0 && c_out > 0) {
    os_conv(x, m.nbr_out, n_out, m.volume, c_in, c_out, w, false, bias, ws, thread_slice(c_in, c_out), y, os_rows);
    return;
  }
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
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* ws, int64_t os_rows) {
  if (gb) {
#pragma omp parallel for schedule(static) if (n_out * c_out > kParallelWork)
    for (int64_t c = 0; c < c_out; ++c) {
      double s = 0;
      for (int64_t j = 0; j < n_out; ++j) s += double(gy[j * c_out + c]);
      gb[c] = T(s);
    }
  }
  if (os_rows > 0 && m.nbr_in && c_in > 0 && c_out > 0) {
    if (!gx && !gw) return;
    const int nthreads = std::max(1, omp_get_max_threads());
    T* partials = ws + int64_t(nthreads) * thread_slice(c_in, c_out);
    os_backward(x, gy, m.nbr_in, n_in, m.volume, m.offsets[m.volume], c_in, c_out, w, gx, gw, partials, ws,
                thread_slice(c_in, c_out), os_rows);
    return;
  }
  if (gx) std::fill(gx, gx + n_in * c_in, T(0));
  if (gw) std::fill(gw, gw + m.volume * c_in * c_out, T(0));
  if (c_in == 0 || c_out == 0 || (!gx && !gw)) return;
  const int nthreads = std::max(1, omp_get_max_threads());
  T* partials = ws + int64_t(nthreads) * thread_slice(c_in, c_out);
  for (int64_t k = 0; k < m.volume; ++k) {
    const int64_t b = m.offsets[k], P = m.offsets[k + 1] - b;
    if (P == 0) continue;
    backward_offset(x, gy, w + k * c_in * c_out, m.in_idx + b, m.out_idx + b, P, c_in, c_out, ws, partials, nthreads,
                    gw ? gw + k * c_in * c_out : nullptr, gx);
  }
}

}  // namespace leseg::kernels::LESEG_ISA_NS::sparse_conv
