// SPDX-License-Identifier: Apache-2.0
// matmul: batched row-major GEMM   C[b] = op(A[b]) · op(B[b]) + beta · C[b]     defines: matmul_cpu, matmul_cuda
//   op(A[b]): (M, K)  stored (M, K) row-major, or (K, M) when trans_a
//   op(B[b]): (K, N)  stored (K, N) row-major, or (N, K) when trans_b
//   C[b]:     (M, N)
// Batch b of each operand starts at b * stride_{a,b,c} elements; stride 0 broadcasts an operand.
// stride_c == 0 with batch > 1 means "sum every batch's product into one C" (done serially, in batch
// order, so the result is deterministic): that is the gradient of a broadcast operand.
// Gradient (used by engine/ops/linalg.cpp through the transpose flags, nothing is materialised):
//   C = A·B  =>  dA = dC·Bᵀ (trans_b), dB = Aᵀ·dC (trans_a).
// CUDA: cuBLAS (cublasGemmStridedBatchedEx) through the row-major/column-major transpose trick
//   (row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ); one cuBLAS handle per (host thread, device), bound to
//   `stream` before each call. allow_tf32 selects CUBLAS_COMPUTE_32F_FAST_TF32 for f32 (default off).
//   cuBLAS keeps its own internal workspace (the one allocation these kernels do not take from the caller).
// T: float, double (matmul_cpu / matmul_cuda); f16_t, bf16_t (matmul_lowp_cpu / matmul_lowp_cuda)
#pragma once
#include <cstdint>

#include "kernels/common/half_math.h"
#include "kernels/common/hd.h"

namespace leseg::kernels {

struct GemmShape {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between batches (0 = broadcast)
};

template <class T> void matmul_cpu(const T* a, const T* b, T* c, const GemmShape& s, T beta);
template <class T>
void matmul_cuda(const T* a, const T* b, T* c, const GemmShape& s, T beta, bool allow_tf32, StreamHandle stream);

// Half-precision GEMM (T: f16_t, bf16_t; train.precision bf16/f16, engine/precision.h): operands in T, f32
// accumulation, C = op(A)·op(B) + beta·C computed in f32 (C read from T) and rounded to T once at the store.
// No summed batches (stride_c == 0 with batch > 1 is rejected: the engine sums those in f32).
// CPU twin: the operands upcast to f32 (exact), matmul_cpu<float>, each output rounded to T (float_to_bf16 /
//   float_to_f16, nearest even).
// CUDA: cublasGemmStridedBatchedEx with CUDA_R_16BF / CUDA_R_16F operands and C, CUBLAS_COMPUTE_32F (tensor
//   cores, f32 accumulation in the hardware's order: parity with the twin is to a stated tolerance, not bits).
template <class T> void matmul_lowp_cpu(const T* a, const T* b, T* c, const GemmShape& s, float beta);
template <class T>
void matmul_lowp_cuda(const T* a, const T* b, T* c, const GemmShape& s, float beta, StreamHandle stream);

}  // namespace leseg::kernels
