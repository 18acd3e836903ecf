// SPDX-License-Identifier: Apache-2.0
// CUDA sparse convolution: GatherGemmScatter (gather -> cuBLAS -> scatter, per offset) and ImplicitGemm
// (fused, output-stationary). No float atomics anywhere (see sparse_conv.h: deterministic by construction).
#include <cublas_v2.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/common/half_math.h"
#include "kernels/sparse_conv/sparse_conv.h"
#include "kernels/sparse_conv/sparse_conv_cuda_internal.h"

namespace leseg::kernels {
namespace {

void cublas_check(cublasStatus_t st, const char* what, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    std::ostringstream os;
    os << __FILE__ << ":" << line << ": cuBLAS error " << int(st) << " in " << what;
    throw std::runtime_error(os.str());
  }
}
#define LESEG_CUBLAS_CHECK(expr) cublas_check((expr), #expr, __LINE__)

// One handle per (host thread, device), created on first use and kept for the thread's lifetime.
cublasHandle_t cublas_handle(StreamHandle s) {
  constexpr int kMaxDevices = 64;
  thread_local cublasHandle_t handles[kMaxDevices] = {};
  int dev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= kMaxDevices) throw std::runtime_error("sparse_conv: device index out of range");
  if (!handles[dev]) {
    LESEG_CUBLAS_CHECK(cublasCreate(&handles[dev]));
    LESEG_CUBLAS_CHECK(cublasSetAtomicsMode(handles[dev], CUBLAS_ATOMICS_NOT_ALLOWED));
  }
  LESEG_CUBLAS_CHECK(cublasSetStream(handles[dev], cuda::stream_of(s)));
  return handles[dev];
}

// Column-major GEMM C(m, n) = op(A) op(B) + (accumulate ? C : 0). f32 honours ConvMath::allow_tf32 (TF32 tensor
// cores with f32 accumulation, engine/precision.h); without it full f32 (CUBLAS_COMPUTE_32F_PEDANTIC is not needed:
// the default math mode of the handle never uses TF32).
thread_local bool g_tf32 = false;
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* A, int lda,
          const float* B, int ldb, float* C, int ldc, bool accumulate = false) {
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  LESEG_CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &one, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta, C,
                                  CUDA_R_32F, ldc, g_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
}
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double* A, int lda,
          const double* B, int ldb, double* C, int ldc, bool accumulate = false) {
  const double one = 1.0, beta = accumulate ? 1.0 : 0.0;
  LESEG_CUBLAS_CHECK(cublasDgemm(h, ta, tb, m, n, k, &one, A, lda, B, ldb, &beta, C, ldc));
}

// Pairs of one offset are processed in chunks of at most this many rows (bounds the workspace).
constexpr int64_t kCudaRowChunk = int64_t(1) << 16;

template <class T>
void gather_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst, StreamHandle s) {
  cuda::for_each(P * C, [=] __device__(int64_t t) { dst[t] = src[int64_t(idx[t / C]) * C + t % C]; }, s,
                 "leseg::sparse_conv_gather");
}
// Destination rows are distinct within one offset: plain read-modify-write, no atomics.
template <class T>
void scatter_add_rows(const T* src, const int32_t* idx, int64_t P, int64_t C, T* dst, StreamHandle s) {
  cuda::for_each(P * C, [=] __device__(int64_t t) { dst[int64_t(idx[t / C]) * C + t % C] += src[t]; }, s,
                 "leseg::sparse_conv_scatter_add");
}

template <class T>
void fill_rows(T* y, const T* bias, int64_t n, int64_t C, StreamHandle s) {
  cuda::for_each(n * C, [=] __device__(int64_t t) { y[t] = bias ? bias[t % C] : T(0); }, s, "leseg::sparse_conv_init");
}

// Column sums in a fixed order with double accumulation (deterministic bias gradient).
template <class T>
void column_sums(const T* g, int64_t n, int64_t C, T* out, StreamHandle s) {
  cuda::for_each(
      C,
      [=] __device__(int64_t c) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += double(g[j * C + c]);
        out[c] = T(acc);
      },
      s, "leseg::sparse_conv_bias_grad");
}

// Output-stationary implicit GEMM. y[r, n] = bias[n] + sum_k sum_c x[nbr[k, r], c] * B_k(c, n) with
// B_k(c, n) = w[k, c, n] (TRANS = false, w: (V, in_ch, out_ch)) or w[k, n, c] (TRANS = true, w: (V, out_ch, in_ch)).
constexpr int TM = 32, TN = 32, TK = 32, kImplicitThreads = 256;
template <class T, bool TRANS>
__global__ void __launch_bounds__(kImplicitThreads) implicit_gemm_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                               const T* __restrict__ bias, const int32_t* __restrict__ nbr,
                                                               int64_t volume, int64_t n_rows, int64_t in_ch,
                                                               int64_t out_ch, T* __restrict__ y) {
  __shared__ T As[TK][TM + 1];
  __shared__ T Bs[TK][TN + 1];
  __shared__ int32_t idx[TM];
  const int tx = threadIdx.x % TN;   // output channel within the tile
  const int ty = threadIdx.x / TN;   // 0..7: rows ty, ty+8, ty+16, ty+24
  const int64_t row0 = int64_t(blockIdx.x) * TM;
  const int64_t col = int64_t(blockIdx.y) * TN + tx;
  T acc[4] = {T(0), T(0), T(0), T(0)};
  for (int64_t k = 0; k < volume; ++k) {
    if (threadIdx.x < TM) {
      const int64_t r = row0 + threadIdx.x;
      idx[threadIdx.x] = r < n_rows ? nbr[k * n_rows + r] : -1;
    }
    const int any = __syncthreads_or(threadIdx.x < TM && idx[threadIdx.x] >= 0);
    if (!any) continue;
    const T* wk = w + k * in_ch * out_ch;
    for (int64_t c0 = 0; c0 < in_ch; c0 += TK) {
      for (int e = threadIdx.x; e < TK * TM; e += kImplicitThreads) {
        const int m = e / TK, kk = e % TK;  // consecutive threads read consecutive channels of one row
        const int32_t src = idx[m];
        As[kk][m] = (src >= 0 && c0 + kk < in_ch) ? x[int64_t(src) * in_ch + c0 + kk] : T(0);
      }
      for (int e = threadIdx.x; e < TK * TN; e += kImplicitThreads) {
        int kk, n;
        if (TRANS) { n = e / TK; kk = e % TK; } else { kk = e / TN; n = e % TN; }
        const int64_t c = c0 + kk, o = int64_t(blockIdx.y) * TN + n;
        T v = T(0);
        if (c < in_ch && o < out_ch) v = TRANS ? wk[o * in_ch + c] : wk[c * out_ch + o];
        Bs[kk][n] = v;
      }
      __syncthreads();
#pragma unroll 8
      for (int kk = 0; kk < TK; ++kk) {
        const T b = Bs[kk][tx];
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[i] += As[kk][ty + 8 * i] * b;
      }
      __syncthreads();
    }
  }
  if (col < out_ch)
    for (int i = 0; i < 4; ++i) {
      const int64_t r = row0 + ty + 8 * i;
      if (r < n_rows) y[r * out_ch + col] = acc[i] + (bias ? bias[col] : T(0));
    }
}

template <class T, bool TRANS>
void implicit_gemm(const T* x, const T* w, const T* bias, const int32_t* nbr, int64_t volume, int64_t n_rows,
                   int64_t in_ch, int64_t out_ch, T* y, StreamHandle s) {
  if (n_rows == 0 || out_ch == 0) return;
  cuda::NvtxRange r("leseg::sparse_conv_implicit_gemm");
  if (!nbr) throw std::invalid_argument("sparse_conv ImplicitGemm: the kernel map has no neighbour matrix");
  const dim3 grid(unsigned((n_rows + TM - 1) / TM), unsigned((out_ch + TN - 1) / TN));
  if ((n_rows + TM - 1) / TM > 0x7fffffff || (out_ch + TN - 1) / TN > 65535)
    throw std::invalid_argument("sparse_conv ImplicitGemm: grid too large");
  implicit_gemm_kernel<T, TRANS><<<grid, kImplicitThreads, 0, cuda::stream_of(s)>>>(x, w, bias, nbr, volume, n_rows,
                                                                                    in_ch, out_ch, y);
  LESEG_CUDA_CHECK_LAUNCH("sparse_conv implicit_gemm_kernel");
}

void check_sizes(const ConvMap& m, int64_t c_in, int64_t c_out) {
  if (!m.offsets || m.volume < 1) throw std::invalid_argument("sparse_conv: kernel map without offsets");
  if (m.max_pairs() >= (int64_t(1) << 31) || c_in >= (int64_t(1) << 31) || c_out >= (int64_t(1) << 31))
    throw std::invalid_argument("sparse_conv: a per-offset GEMM dimension exceeds the cuBLAS int range");
}

}  // namespace

size_t sparse_conv_cuda_workspace_bytes(const ConvMap& m, int64_t c_in, int64_t c_out, size_t elem_size) {
  return size_t(std::min(m.max_pairs(), kCudaRowChunk) * (c_in + c_out)) * elem_size + 256;
}

size_t sparse_conv_cuda_variant_workspace_bytes(ConvVariant v, const ConvMap& m, int64_t n_in, int64_t n_out,
                                                int64_t c_in, int64_t c_out, size_t elem_size) {
  if (v == ConvVariant::GroupedGemm || v == ConvVariant::TensorCoreImplicitGemm)
    return detail::grouped_workspace_bytes(m, n_in, n_out, c_in, c_out, elem_size);
  return sparse_conv_cuda_workspace_bytes(m, c_in, c_out, elem_size);
}

void* detail::sparse_conv_cublas_handle(StreamHandle s) { return cublas_handle(s); }

namespace {
template <class T>
constexpr bool kLegacyType = std::is_same_v<T, float> || std::is_same_v<T, double>;
struct Tf32Scope {  // the legacy variants read g_tf32 inside gemm()
  bool prev;
  explicit Tf32Scope(bool on) : prev(g_tf32) { g_tf32 = on; }
  ~Tf32Scope() { g_tf32 = prev; }
};
[[noreturn]] void legacy_type_error(ConvVariant v) {
  throw std::invalid_argument(std::string("sparse_conv: variant ") + conv_variant_name(v) +
                              " computes in f32/f64 only; bf16/f16 run grouped_gemm or tensor_core_implicit_gemm");
}
}  // namespace

template <class T>
void sparse_conv_forward_cuda(ConvVariant v, const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in,
                              int64_t n_out, int64_t c_in, int64_t c_out, T* y, void* workspace, StreamHandle s,
                              const ConvMath& math) {
  if (v == ConvVariant::GroupedGemm)
    return detail::grouped_forward<T>(x, w, bias, m, n_in, n_out, c_in, c_out, y, workspace, s, math);
  if (v == ConvVariant::TensorCoreImplicitGemm)
    return detail::tc_forward<T>(x, w, bias, m, n_in, n_out, c_in, c_out, y, s, math);
  if constexpr (!kLegacyType<T>) {
    legacy_type_error(v);
  } else {
  Tf32Scope tf32(math.allow_tf32);
  check_sizes(m, c_in, c_out);
  cuda::NvtxRange r("leseg::sparse_conv_forward");
  if (v == ConvVariant::ImplicitGemm) {
    implicit_gemm<T, false>(x, w, bias, m.nbr_out, m.volume, n_out, c_in, c_out, y, s);
    return;
  }
  fill_rows(y, bias, n_out, c_out, s);
  if (c_in == 0 || c_out == 0) return;
  cublasHandle_t h = cublas_handle(s);
  T* xg = static_cast<T*>(workspace);
  for (int64_t k = 0; k < m.volume; ++k)
    for (int64_t b = m.offsets[k]; b < m.offsets[k + 1]; b += kCudaRowChunk) {
      const int64_t P = std::min(kCudaRowChunk, m.offsets[k + 1] - b);
      T* yg = xg + P * c_in;
      gather_rows(x, m.in_idx + b, P, c_in, xg, s);
      // row-major yg (P, C_out) = xg (P, C_in) W_k (C_in, C_out)  <=>  col-major yg^T = W_k^T xg^T
      gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(c_out), int(P), int(c_in), w + k * c_in * c_out, int(c_out), xg,
           int(c_in), yg, int(c_out));
      scatter_add_rows(yg, m.out_idx + b, P, c_out, y, s);
    }
  }
}

template <class T>
void sparse_conv_backward_cuda(ConvVariant v, const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in,
                               int64_t n_out, int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, void* workspace,
                               StreamHandle s, const ConvMath& math) {
  if (v == ConvVariant::GroupedGemm)
    return detail::grouped_backward<T>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb, workspace, s, math);
  if (v == ConvVariant::TensorCoreImplicitGemm)
    return detail::tc_backward<T>(x, w, gy, m, n_in, n_out, c_in, c_out, gx, gw, gb, workspace, s, math);
  if constexpr (!kLegacyType<T>) {
    legacy_type_error(v);
  } else {
  Tf32Scope tf32(math.allow_tf32);
  check_sizes(m, c_in, c_out);
  cuda::NvtxRange r("leseg::sparse_conv_backward");
  if (gb) column_sums(gy, n_out, c_out, gb, s);
  const bool fused_gx = v == ConvVariant::ImplicitGemm && gx;
  if (fused_gx) implicit_gemm<T, true>(gy, w, nullptr, m.nbr_in, m.volume, n_in, c_out, c_in, gx, s);
  else if (gx) fill_rows(gx, static_cast<const T*>(nullptr), n_in, c_in, s);
  if (gw) LESEG_CUDA_CHECK(cudaMemsetAsync(gw, 0, size_t(m.volume * c_in * c_out) * sizeof(T), cuda::stream_of(s)));
  if (c_in == 0 || c_out == 0 || (!gw && (!gx || fused_gx))) return;
  cublasHandle_t h = cublas_handle(s);
  T* xg = static_cast<T*>(workspace);  // (P, C_in)
  for (int64_t k = 0; k < m.volume; ++k)
    for (int64_t b = m.offsets[k]; b < m.offsets[k + 1]; b += kCudaRowChunk) {
      const int64_t P = std::min(kCudaRowChunk, m.offsets[k + 1] - b);
      T* gg = xg + P * c_in;  // (P, C_out)
      gather_rows(gy, m.out_idx + b, P, c_out, gg, s);
      if (gw) {
        gather_rows(x, m.in_idx + b, P, c_in, xg, s);
        // row-major gW_k (C_in, C_out) += xg^T gg  <=>  col-major gW_k^T (C_out, C_in) += gg^T xg; the chunks of
        // one offset accumulate in order (beta = 1 after the first): deterministic
        gemm(h, CUBLAS_OP_N, CUBLAS_OP_T, int(c_out), int(c_in), int(P), gg, int(c_out), xg, int(c_in),
             gw + k * c_in * c_out, int(c_out), b != m.offsets[k]);
      }
      if (gx && !fused_gx) {
        // row-major xg (P, C_in) = gg (P, C_out) W_k^T  <=>  col-major xg^T (C_in, P) = W_k gg^T
        gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, int(c_in), int(P), int(c_out), w + k * c_in * c_out, int(c_out), gg,
             int(c_out), xg, int(c_in));
        scatter_add_rows(xg, m.in_idx + b, P, c_in, gx, s);
      }
    }
  }
}

#define LESEG_INST(T)                                                                                             \
  template void sparse_conv_forward_cuda<T>(ConvVariant, const T*, const T*, const T*, const ConvMap&, int64_t,    \
                                            int64_t, int64_t, int64_t, T*, void*, StreamHandle, const ConvMath&); \
  template void sparse_conv_backward_cuda<T>(ConvVariant, const T*, const T*, const T*, const ConvMap&, int64_t,   \
                                             int64_t, int64_t, int64_t, T*, T*, T*, void*, StreamHandle,          \
                                             const ConvMath&);
LESEG_INST(float)
LESEG_INST(double)
LESEG_INST(f16_t)
LESEG_INST(bf16_t)
#undef LESEG_INST

}  // namespace leseg::kernels
