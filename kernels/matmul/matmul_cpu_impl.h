// SPDX-License-Identifier: Apache-2.0
// Body of the CPU matmul, compiled once per instruction set (kernels/common/isa.h): included by matmul_cpu.cpp
// in namespace isa_baseline and by matmul_cpu_x86v3.cpp (-march=x86-64-v3) in namespace isa_x86v3.
// No checks here (they are in matmul_cpu.cpp) and no std containers (no inline template shared with the other copy).
//
// Eigen GEMM on row-major maps, parallelised by us (OpenMP) and never by Eigen (it does not
// open its own threads inside an active parallel region): over batches when there are several, over fixed
// blocks of output rows for tall products, and over fixed K chunks summed in order when a long inner
// dimension meets a small output (host scratch: chunks·M·N values). Deterministic for any thread count.
#ifndef LESEG_ISA_NS
#error "define LESEG_ISA_NS before including matmul_cpu_impl.h"
#endif
#include <Eigen/Core>
#include <algorithm>

#include "kernels/matmul/matmul.h"

namespace leseg::kernels::LESEG_ISA_NS::matmul_impl {
template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
using StridedMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;

// C = beta·C + op(A)·op(B) for one batch, restricted to output rows [i0, i0 + mi) and to the inner range
// [k0, k0 + kn) (whole product: i0 = 0, mi = M, k0 = 0, kn = K).
template <class T>
void gemm_one(const T* a, const T* b, T* c, const GemmShape& s, T beta, int64_t k0, int64_t kn, int64_t i0, int64_t mi) {
  Eigen::Map<RowMat<T>> C(c + i0 * s.n, mi, s.n);
  if (kn == 0) {
    if (beta == T(0)) C.setZero(); else C *= beta;
    return;
  }
  // Stored A: (K, M) when trans_a (rows k0.., columns i0..), else (M, K) (rows i0.., columns k0..).
  StridedMap<T> A(s.trans_a ? a + k0 * s.m + i0 : a + i0 * s.k + k0, s.trans_a ? kn : mi, s.trans_a ? mi : kn,
                  Eigen::OuterStride<>(s.trans_a ? s.m : s.k));
  StridedMap<T> B(s.trans_b ? b + k0 : b + k0 * s.n, s.trans_b ? s.n : kn, s.trans_b ? kn : s.n,
                  Eigen::OuterStride<>(s.trans_b ? s.k : s.n));
  auto run = [&](const auto& opA, const auto& opB) {
    if (beta == T(0)) C.noalias() = opA * opB;
    else {
      if (beta != T(1)) C *= beta;
      C.noalias() += opA * opB;
    }
  };
  if (!s.trans_a && !s.trans_b) run(A, B);
  else if (s.trans_a && !s.trans_b) run(A.transpose(), B);
  else if (!s.trans_a && s.trans_b) run(A, B.transpose());
  else run(A.transpose(), B.transpose());
}

// Long inner dimension with a small output (the weight gradient of a point-feature layer: K = rows):
// Eigen parallelises over the output only, so split K into fixed chunks, one partial product per chunk
// in parallel, then add the partials in chunk order (deterministic for any thread count).
constexpr int64_t kSplitChunk = 8192;
template <class T>
bool want_k_split(const GemmShape& s) {
  return s.k >= 4 * kSplitChunk && s.m * s.n <= 256 * 256;
}
template <class T>
void gemm_k_split(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  const int64_t chunks = (s.k + kSplitChunk - 1) / kSplitChunk;
  const int64_t mn = s.m * s.n;
  T* part = new T[size_t(chunks * mn)];
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < chunks; ++q) {
    const int64_t k0 = q * kSplitChunk, kn = std::min(kSplitChunk, s.k - k0);
    gemm_one(a, b, part + q * mn, s, T(0), k0, kn, 0, s.m);
  }
  for (int64_t i = 0; i < mn; ++i) {
    T acc = beta == T(0) ? T(0) : beta * c[i];
    for (int64_t q = 0; q < chunks; ++q) acc += part[size_t(q * mn + i)];
    c[i] = acc;
  }
  delete[] part;
}
// Many output rows: fixed blocks of rows in parallel, Eigen single-threaded inside each (its own OpenMP
// GEMM spin-waits, which starves when the cores are shared). The block size does not depend on the thread
// count, so results are identical for any number of threads.
constexpr int64_t kRowBlock = 128;
template <class T>
void gemm_full(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  if (want_k_split<T>(s)) {
    gemm_k_split(a, b, c, s, beta);
    return;
  }
  const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
  if (s.m >= 2 * kRowBlock && flops >= double(1 << 22)) {
    const int64_t blocks = (s.m + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < blocks; ++q)
      gemm_one(a, b, c, s, beta, 0, s.k, q * kRowBlock, std::min(kRowBlock, s.m - q * kRowBlock));
    return;
  }
  gemm_one(a, b, c, s, beta, 0, s.k, 0, s.m);
}

template <class T>
void matmul(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  if (s.stride_c == 0) {  // reduce every batch into one C, serially (deterministic)
    for (int64_t i = 0; i < s.batch; ++i)
      gemm_full(a + i * s.stride_a, b + i * s.stride_b, c, s, i == 0 ? beta : T(1));
    return;
  }
  if (s.batch == 1) {
    gemm_full(a, b, c, s, beta);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.batch; ++i)
    gemm_one(a + i * s.stride_a, b + i * s.stride_b, c + i * s.stride_c, s, beta, 0, s.k, 0, s.m);
}

}  // namespace leseg::kernels::LESEG_ISA_NS::matmul_impl
