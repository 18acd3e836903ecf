// SPDX-License-Identifier: Apache-2.0
// CUDA matmul through cuBLAS. Row-major C (M, N) = op(A)·op(B) is column-major Cᵀ (N, M) = op(B)ᵀ·op(A)ᵀ,
// so we call cuBLAS with the operands swapped: (m', n', k') = (N, M, K), A' = b, B' = a, ldc = N.
#include <cublas_v2.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/matmul/matmul.h"

namespace leseg::kernels {
namespace {

void cublas_check(cublasStatus_t st, const char* what, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    std::ostringstream os;
    os << __FILE__ << ":" << line << ": cuBLAS error in " << what << ": " << cublasGetStatusString(st);
    throw std::runtime_error(os.str());
  }
}
#define LESEG_CUBLAS_CHECK(expr) cublas_check((expr), #expr, __LINE__)

// One handle per (host thread, device): no locking, and cublasSetStream cannot race between threads.
cublasHandle_t handle_for_current_device() {
  thread_local std::unordered_map<int, cublasHandle_t> handles;
  int dev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  auto it = handles.find(dev);
  if (it != handles.end()) return it->second;
  cublasHandle_t h = nullptr;
  LESEG_CUBLAS_CHECK(cublasCreate(&h));
  handles.emplace(dev, h);
  return h;
}

template <class T> struct CublasTypes;
template <> struct CublasTypes<float> { static constexpr cudaDataType_t data = CUDA_R_32F; };
template <> struct CublasTypes<double> { static constexpr cudaDataType_t data = CUDA_R_64F; };

template <class T>
void gemm_call(cublasHandle_t h, const T* a, const T* b, T* c, const GemmShape& s, T beta, int64_t batch,
               int64_t stride_c, cublasComputeType_t compute) {
  const T alpha = T(1);
  cublasOperation_t op_b = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // A' = b
  cublasOperation_t op_a = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // B' = a
  // Leading dims as stored (at least 1: cuBLAS rejects 0; k == 0 never gets here, see matmul_cuda).
  const int64_t lda = std::max<int64_t>(1, s.trans_b ? s.k : s.n);
  const int64_t ldb = std::max<int64_t>(1, s.trans_a ? s.m : s.k);
  LESEG_KCHECK(s.m <= INT32_MAX && s.n <= INT32_MAX && s.k <= INT32_MAX && batch <= INT32_MAX,
               "matmul_cuda: dimensions exceed cuBLAS int range");
  constexpr cudaDataType_t dt = CublasTypes<T>::data;
  LESEG_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, op_b, op_a, int(s.n), int(s.m), int(s.k), &alpha, b, dt, int(lda),
                                                s.stride_b, a, dt, int(ldb), s.stride_a, &beta, c, dt, int(s.n),
                                                stride_c, int(batch), compute, CUBLAS_GEMM_DEFAULT));
}
}  // namespace

template <class T>
void matmul_cuda(const T* a, const T* b, T* c, const GemmShape& s, T beta, bool allow_tf32, StreamHandle stream) {
  LESEG_KCHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "matmul: negative size");
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  if (s.k == 0) {  // empty inner dimension: C = beta·C, as the CPU twin; cuBLAS has been seen to leave C
                   // untouched here (pytorch/pytorch#31421), and C is usually uninitialised (beta = 0)
    const int64_t mn = s.m * s.n, nb = s.stride_c == 0 ? 1 : s.batch, sc = s.stride_c;
    cuda::for_each(
        nb * mn,
        [=] __device__(int64_t i) {
          T* p = c + (i / mn) * sc + i % mn;
          *p = beta == T(0) ? T(0) : beta * *p;
        },
        stream, "leseg::matmul_k0");
    return;
  }
  cuda::NvtxRange range("leseg::matmul");
  cublasHandle_t h = handle_for_current_device();
  LESEG_CUBLAS_CHECK(cublasSetStream(h, cuda::stream_of(stream)));
  cublasComputeType_t compute = std::is_same_v<T, double> ? CUBLAS_COMPUTE_64F
                                : allow_tf32               ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                           : CUBLAS_COMPUTE_32F;
  if (s.stride_c == 0 && s.batch > 1) {  // reduce all batches into one C, in batch order
    for (int64_t i = 0; i < s.batch; ++i)
      gemm_call(h, a + i * s.stride_a, b + i * s.stride_b, c, s, i == 0 ? beta : T(1), 1, 0, compute);
    return;
  }
  gemm_call(h, a, b, c, s, beta, s.batch, s.stride_c, compute);
}

// beta·v in f32, rounded once to v's type (beta 0 writes 0, as the CPU twin)
__device__ inline bf16_t scaled_store(bf16_t v, float beta) {
  return float_to_bf16(beta == 0.0f ? 0.0f : beta * bf16_to_float(v));
}
__device__ inline f16_t scaled_store(f16_t v, float beta) {
  return float_to_f16(beta == 0.0f ? 0.0f : beta * f16_to_float(v));
}
template <class T> struct LowpType;
template <> struct LowpType<bf16_t> { static constexpr cudaDataType_t data = CUDA_R_16BF; };
template <> struct LowpType<f16_t> { static constexpr cudaDataType_t data = CUDA_R_16F; };

template <class T>
void matmul_lowp_cuda(const T* a, const T* b, T* c, const GemmShape& s, float beta, StreamHandle stream) {
  static_assert(sizeof(T) == 2, "half storage types are 2 bytes");
  LESEG_KCHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "matmul: negative size");
  LESEG_KCHECK(!(s.stride_c == 0 && s.batch > 1), "matmul_lowp: summed batches are not supported");
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  if (s.k == 0) {  // C = beta·C in f32, rounded once (the twin's order)
    const int64_t n = s.stride_c == 0 ? s.m * s.n : s.stride_c * (s.batch - 1) + s.m * s.n;
    cuda::for_each(
        n,
        [=] __device__(int64_t i) { c[i] = scaled_store(c[i], beta); },
        stream, "leseg::matmul_lowp_k0");
    return;
  }
  cuda::NvtxRange range("leseg::matmul_lowp");
  cublasHandle_t h = handle_for_current_device();
  LESEG_CUBLAS_CHECK(cublasSetStream(h, cuda::stream_of(stream)));
  const float alpha = 1.0f;
  cublasOperation_t op_b = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // A' = b (see the file comment)
  cublasOperation_t op_a = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // B' = a
  const int64_t lda = std::max<int64_t>(1, s.trans_b ? s.k : s.n);
  const int64_t ldb = std::max<int64_t>(1, s.trans_a ? s.m : s.k);
  LESEG_KCHECK(s.m <= INT32_MAX && s.n <= INT32_MAX && s.k <= INT32_MAX && s.batch <= INT32_MAX,
               "matmul_cuda: dimensions exceed cuBLAS int range");
  constexpr cudaDataType_t dt = LowpType<T>::data;
  LESEG_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, op_b, op_a, int(s.n), int(s.m), int(s.k), &alpha, b, dt, int(lda),
                                                s.stride_b, a, dt, int(ldb), s.stride_a, &beta, c, dt, int(s.n),
                                                s.stride_c, int(s.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
template void matmul_lowp_cuda<bf16_t>(const bf16_t*, const bf16_t*, bf16_t*, const GemmShape&, float, StreamHandle);
template void matmul_lowp_cuda<f16_t>(const f16_t*, const f16_t*, f16_t*, const GemmShape&, float, StreamHandle);

template void matmul_cuda<float>(const float*, const float*, float*, const GemmShape&, float, bool, StreamHandle);
template void matmul_cuda<double>(const double*, const double*, double*, const GemmShape&, double, bool, StreamHandle);

}  // namespace leseg::kernels
