// SPDX-License-Identifier: Apache-2.0
// CUDA fused attention, matching attention_cpu.cpp. See attention.h for the maths. One kernel template per
// storage type T (f32, f16, bf16): every global load goes through ld() to f32 and every store through
// cvt<T>; arithmetic, shared-memory tiles and accumulation are f32; lse and the D_i workspace are f32.
// Thread layout: TPR threads share one row (query or key); thread `part` of a row owns the interleaved
// dims c*TPR + part (so the TPR threads of a row read consecutive shared-memory words: no bank conflicts),
// and dot products are finished with xor-shuffles inside the group. A block holds ROWS = 128 / TPR rows.
//   forward   grid (ceil(max_lq / ROWS), H, B): K/V tiles of BK rows in shared memory, online softmax.
//   dq        grid (ceil(max_lq / ROWS), H, B): K/V tiles in shared memory, dQ in registers.
//   dk/dv     grid (ceil(max_lk / ROWS), H, B): Q/dO tiles in shared memory, dK/dV/dBias in registers.
// No atomics: every output row is written by one thread group, so results are deterministic.
// Not done yet: tensor cores, split-key parallelism for few queries over many keys.
#include <algorithm>
#include <type_traits>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_math.h"
#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"

namespace leseg::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kTile = 32;  // rows of the streamed operand per shared-memory tile

template <int D>
struct Cfg {
  static constexpr int TPR = D >= 128 ? 8 : 4;  // threads per row
  static constexpr int DS = D / TPR;            // dims per thread
  static constexpr int ROWS = kThreads / TPR;   // rows per block
};

// Element conversion from / to storage (round-to-nearest-even for halves, kernels/common/half_math.h).
template <class T>
__device__ __forceinline__ float ld(T x) { return Convert<float, T>::apply(x); }
template <class T>
__device__ __forceinline__ T cvt(float x) { return Convert<T, float>::apply(x); }

template <int TPR>
__device__ __forceinline__ float group_sum(float x) {
#pragma unroll
  for (int off = 1; off < TPR; off <<= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}

// Loads rows [r0, r0 + n) of head h of x (rows, H, D) into sm[kTile][D] (rows beyond n are zero).
template <int D, class T>
__device__ __forceinline__ void load_tile(const T* __restrict__ x, int64_t r0, int n, int64_t H, int64_t h,
                                          float (*sm)[D]) {
  for (int idx = threadIdx.x; idx < kTile * D; idx += kThreads) {
    const int r = idx / D, c = idx % D;
    sm[r][c] = r < n ? ld(x[((r0 + r) * H + h) * D + c]) : 0.f;
  }
}

// Per-key additive term: bias (or 0), -inf for masked keys.
template <class T>
__device__ __forceinline__ float key_term(const uint8_t* mask, const T* bias, int64_t key, int64_t H, int64_t h) {
  if (mask && mask[key]) return attn::neg_inf<float>();
  return bias ? ld(bias[key * H + h]) : 0.f;
}

template <int D, class T, class I>
__global__ void __launch_bounds__(kThreads) attn_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                            const T* __restrict__ v, const I* __restrict__ cu_q,
                                                            const I* __restrict__ cu_k, const uint8_t* __restrict__ mask,
                                                            const T* __restrict__ bias, int64_t H, float scale,
                                                            T* __restrict__ o, float* __restrict__ lse) {
  using C = Cfg<D>;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t q_end = cu_q[b + 1], row0 = int64_t(cu_q[b]) + int64_t(blockIdx.x) * C::ROWS;
  if (row0 >= q_end) return;  // uniform over the block
  const int64_t k_begin = cu_k[b], k_end = cu_k[b + 1];
  const int part = threadIdx.x % C::TPR;
  const int64_t row = row0 + threadIdx.x / C::TPR;
  const bool active = row < q_end;
  __shared__ float ks[kTile][D], vs[kTile][D], kb[kTile];
  float qr[C::DS], acc[C::DS];
#pragma unroll
  for (int c = 0; c < C::DS; ++c) {
    qr[c] = active ? ld(q[(row * H + h) * D + c * C::TPR + part]) : 0.f;
    acc[c] = 0.f;
  }
  float m = attn::neg_inf<float>(), l = 0.f;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kTile) {
    const int nk = int(min(int64_t(kTile), k_end - k0));
    __syncthreads();
    load_tile<D>(k, k0, nk, H, h, ks);
    load_tile<D>(v, k0, nk, H, h, vs);
    if (threadIdx.x < kTile) kb[threadIdx.x] = threadIdx.x < nk ? key_term(mask, bias, k0 + threadIdx.x, H, h) : attn::neg_inf<float>();
    __syncthreads();
    float s[kTile];
    float tmax = attn::neg_inf<float>();
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      float d = 0.f;
#pragma unroll
      for (int c = 0; c < C::DS; ++c) d += qr[c] * ks[j][c * C::TPR + part];
      d = group_sum<C::TPR>(d);
      s[j] = kb[j] == attn::neg_inf<float>() ? attn::neg_inf<float>() : attn::logit(d, scale, kb[j]);
      tmax = fmaxf(tmax, s[j]);
    }
    float alpha;
    const float mn = attn::online_max(m, tmax, alpha);
    l *= alpha;
#pragma unroll
    for (int c = 0; c < C::DS; ++c) acc[c] *= alpha;
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      const float p = attn::shifted_exp(s[j], mn);
      l += p;
#pragma unroll
      for (int c = 0; c < C::DS; ++c) acc[c] += p * vs[j][c * C::TPR + part];
    }
    m = mn;
  }
  if (!active) return;
  float L;
  const float inv = attn::finalize(m, l, L);
#pragma unroll
  for (int c = 0; c < C::DS; ++c) o[(row * H + h) * D + c * C::TPR + part] = cvt<T>(acc[c] * inv);
  if (part == 0) lse[row * H + h] = L;
}

template <int D, class T, class I>
__global__ void __launch_bounds__(kThreads) attn_bwd_dq_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                               const T* __restrict__ v, const I* __restrict__ cu_q,
                                                               const I* __restrict__ cu_k,
                                                               const uint8_t* __restrict__ mask,
                                                               const T* __restrict__ bias,
                                                               const float* __restrict__ lse,
                                                               const T* __restrict__ dout,
                                                               const float* __restrict__ Di, int64_t H, float scale,
                                                               T* __restrict__ dq) {
  using C = Cfg<D>;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t q_end = cu_q[b + 1], row0 = int64_t(cu_q[b]) + int64_t(blockIdx.x) * C::ROWS;
  if (row0 >= q_end) return;
  const int64_t k_begin = cu_k[b], k_end = cu_k[b + 1];
  const int part = threadIdx.x % C::TPR;
  const int64_t row = row0 + threadIdx.x / C::TPR;
  const bool active = row < q_end;
  __shared__ float ks[kTile][D], vs[kTile][D], kb[kTile];
  float qr[C::DS], dor[C::DS], acc[C::DS];
#pragma unroll
  for (int c = 0; c < C::DS; ++c) {
    const int64_t at = (row * H + h) * D + c * C::TPR + part;
    qr[c] = active ? ld(q[at]) : 0.f;
    dor[c] = active ? ld(dout[at]) : 0.f;
    acc[c] = 0.f;
  }
  const float L = active ? lse[row * H + h] : INFINITY;
  const float di = active ? Di[row * H + h] : 0.f;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kTile) {
    const int nk = int(min(int64_t(kTile), k_end - k0));
    __syncthreads();
    load_tile<D>(k, k0, nk, H, h, ks);
    load_tile<D>(v, k0, nk, H, h, vs);
    if (threadIdx.x < kTile) kb[threadIdx.x] = threadIdx.x < nk ? key_term(mask, bias, k0 + threadIdx.x, H, h) : attn::neg_inf<float>();
    __syncthreads();
    for (int j = 0; j < nk; ++j) {
      float d = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < C::DS; ++c) {
        d += qr[c] * ks[j][c * C::TPR + part];
        dp += dor[c] * vs[j][c * C::TPR + part];
      }
      d = group_sum<C::TPR>(d);
      dp = group_sum<C::TPR>(dp);
      const float s = kb[j] == attn::neg_inf<float>() ? attn::neg_inf<float>() : attn::logit(d, scale, kb[j]);
      const float ds = attn::dscore(attn::prob(s, L), dp, di);
#pragma unroll
      for (int c = 0; c < C::DS; ++c) acc[c] += ds * ks[j][c * C::TPR + part];
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < C::DS; ++c) dq[(row * H + h) * D + c * C::TPR + part] = cvt<T>(acc[c] * scale);
}

template <int D, class T, class I>
__global__ void __launch_bounds__(kThreads) attn_bwd_dkv_kernel(const T* __restrict__ q,
                                                                const T* __restrict__ k,
                                                                const T* __restrict__ v, const I* __restrict__ cu_q,
                                                                const I* __restrict__ cu_k,
                                                                const uint8_t* __restrict__ mask,
                                                                const T* __restrict__ bias,
                                                                const float* __restrict__ lse,
                                                                const T* __restrict__ dout,
                                                                const float* __restrict__ Di, int64_t H, float scale,
                                                                T* __restrict__ dk, T* __restrict__ dv,
                                                                T* __restrict__ dbias) {
  using C = Cfg<D>;
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int64_t k_end = cu_k[b + 1], key0 = int64_t(cu_k[b]) + int64_t(blockIdx.x) * C::ROWS;
  if (key0 >= k_end) return;
  const int64_t q_begin = cu_q[b], q_end = cu_q[b + 1];
  const int part = threadIdx.x % C::TPR;
  const int64_t key = key0 + threadIdx.x / C::TPR;
  const bool active = key < k_end;
  const float kterm = active ? key_term(mask, bias, key, H, h) : attn::neg_inf<float>();
  __shared__ float qs[kTile][D], dos[kTile][D], Ls[kTile], Ds[kTile];
  float kr[C::DS], vr[C::DS], dka[C::DS], dva[C::DS];
#pragma unroll
  for (int c = 0; c < C::DS; ++c) {
    const int64_t at = (key * H + h) * D + c * C::TPR + part;
    kr[c] = active ? ld(k[at]) : 0.f;
    vr[c] = active ? ld(v[at]) : 0.f;
    dka[c] = 0.f;
    dva[c] = 0.f;
  }
  float dba = 0.f;
  for (int64_t q0 = q_begin; q0 < q_end; q0 += kTile) {
    const int nq = int(min(int64_t(kTile), q_end - q0));
    __syncthreads();
    load_tile<D>(q, q0, nq, H, h, qs);
    load_tile<D>(dout, q0, nq, H, h, dos);
    if (threadIdx.x < kTile) {
      Ls[threadIdx.x] = threadIdx.x < nq ? lse[(q0 + threadIdx.x) * H + h] : INFINITY;
      Ds[threadIdx.x] = threadIdx.x < nq ? Di[(q0 + threadIdx.x) * H + h] : 0.f;
    }
    __syncthreads();
    for (int i = 0; i < nq; ++i) {
      float d = 0.f, dp = 0.f;
#pragma unroll
      for (int c = 0; c < C::DS; ++c) {
        d += kr[c] * qs[i][c * C::TPR + part];
        dp += vr[c] * dos[i][c * C::TPR + part];
      }
      d = group_sum<C::TPR>(d);
      dp = group_sum<C::TPR>(dp);
      const float s = kterm == attn::neg_inf<float>() ? attn::neg_inf<float>() : attn::logit(d, scale, kterm);
      const float p = attn::prob(s, Ls[i]);
      const float ds = attn::dscore(p, dp, Ds[i]);
#pragma unroll
      for (int c = 0; c < C::DS; ++c) {
        dva[c] += p * dos[i][c * C::TPR + part];
        dka[c] += ds * qs[i][c * C::TPR + part];
      }
      dba += ds;
    }
  }
  if (!active) return;
#pragma unroll
  for (int c = 0; c < C::DS; ++c) {
    const int64_t at = (key * H + h) * D + c * C::TPR + part;
    dk[at] = cvt<T>(dka[c] * scale);
    dv[at] = cvt<T>(dva[c]);
  }
  if (dbias && part == 0) dbias[key * H + h] = cvt<T>(dba);
}

dim3 grid_of(int64_t max_rows, int rows_per_block, const AttentionDims& d) {
  LESEG_KCHECK(d.heads <= 65535 && d.batch <= 65535, "attention (CUDA): heads ", d.heads, " and batch ", d.batch,
               " must be <= 65535");
  const int64_t gx = (max_rows + rows_per_block - 1) / rows_per_block;
  LESEG_KCHECK(gx <= 2147483647LL, "attention (CUDA): sequence too long (", max_rows, " rows)");
  return dim3(unsigned(std::max<int64_t>(gx, 1)), unsigned(d.heads), unsigned(d.batch));
}

void check_cuda_dims(const AttentionDims& d) {
  LESEG_KCHECK(attention_cuda_supports_dim(d.dim), "attention (CUDA): head dim ", d.dim,
               " not supported (16, 32, 64, 128); the CPU path takes any dim");
  LESEG_KCHECK(d.batch >= 0 && d.heads >= 1 && d.max_lq >= 0 && d.max_lk >= 0, "attention (CUDA): bad dims");
}

}  // namespace

#define LESEG_ATTN_DIMS(X) X(16) X(32) X(64) X(128)

template <class T, class I>
void attention_forward_cuda(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                            const T* key_bias, const AttentionDims& d, T* o, attn_stat_t<T>* lse, StreamHandle s) {
  static_assert(!std::is_same_v<T, double>, "attention (CUDA): f32, f16, bf16 only");
  check_cuda_dims(d);
  if (d.batch == 0 || d.tq == 0 || d.max_lq == 0) return;
  cuda::NvtxRange r("leseg::attention_forward");
  switch (d.dim) {
#define LESEG_CASE(DIM)                                                                                       \
  case DIM:                                                                                                   \
    attn_fwd_kernel<DIM, T, I><<<grid_of(d.max_lq, Cfg<DIM>::ROWS, d), kThreads, 0, cuda::stream_of(s)>>>(       \
        q, k, v, cu_q, cu_k, key_mask, key_bias, d.heads, float(d.scale), o, lse);                            \
    break;
    LESEG_ATTN_DIMS(LESEG_CASE)
#undef LESEG_CASE
  }
  LESEG_CUDA_CHECK_LAUNCH("attention_forward");
}

template <class T, class I>
void attention_backward_cuda(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                             const T* key_bias, const T* o, const attn_stat_t<T>* lse, const T* dout,
                             const AttentionDims& d, T* dq, T* dk, T* dv, T* dbias, void* workspace, StreamHandle s) {
  static_assert(!std::is_same_v<T, double>, "attention (CUDA): f32, f16, bf16 only");
  check_cuda_dims(d);
  LESEG_KCHECK(workspace || d.tq * d.heads == 0, "attention backward (CUDA): null workspace");
  cuda::NvtxRange r("leseg::attention_backward");
  float* Di = static_cast<float*>(workspace);
  const int64_t D = d.dim;
  cuda::for_each(
      d.tq * d.heads,
      [=] __device__(int64_t row) {
        float acc = 0.f;
        for (int64_t c = 0; c < D; ++c) acc += ld(dout[row * D + c]) * ld(o[row * D + c]);
        Di[row] = acc;
      },
      s, "leseg::attention_backward_rowdot");
  if (d.batch > 0 && d.max_lq > 0) {
    switch (d.dim) {
#define LESEG_CASE(DIM)                                                                                   \
  case DIM:                                                                                               \
    attn_bwd_dq_kernel<DIM, T, I><<<grid_of(d.max_lq, Cfg<DIM>::ROWS, d), kThreads, 0, cuda::stream_of(s)>>>( \
        q, k, v, cu_q, cu_k, key_mask, key_bias, lse, dout, Di, d.heads, float(d.scale), dq);             \
    break;
      LESEG_ATTN_DIMS(LESEG_CASE)
#undef LESEG_CASE
    }
    LESEG_CUDA_CHECK_LAUNCH("attention_backward_dq");
  } else if (d.tq * d.heads * D > 0) {
    LESEG_CUDA_CHECK(cudaMemsetAsync(dq, 0, size_t(d.tq * d.heads * D) * sizeof(T), cuda::stream_of(s)));
  }
  if (d.batch > 0 && d.max_lk > 0) {
    switch (d.dim) {
#define LESEG_CASE(DIM)                                                                                    \
  case DIM:                                                                                                \
    attn_bwd_dkv_kernel<DIM, T, I><<<grid_of(d.max_lk, Cfg<DIM>::ROWS, d), kThreads, 0, cuda::stream_of(s)>>>( \
        q, k, v, cu_q, cu_k, key_mask, key_bias, lse, dout, Di, d.heads, float(d.scale), dk, dv, dbias);   \
    break;
      LESEG_ATTN_DIMS(LESEG_CASE)
#undef LESEG_CASE
    }
    LESEG_CUDA_CHECK_LAUNCH("attention_backward_dkv");
  }
}

#define LESEG_ATTN_INST(T, I)                                                                                      \
  template void attention_forward_cuda<T, I>(const T*, const T*, const T*, const I*, const I*, const uint8_t*,       \
                                             const T*, const AttentionDims&, T*, attn_stat_t<T>*, StreamHandle);     \
  template void attention_backward_cuda<T, I>(const T*, const T*, const T*, const I*, const I*, const uint8_t*,      \
                                              const T*, const T*, const attn_stat_t<T>*, const T*,                   \
                                              const AttentionDims&, T*, T*, T*, T*, void*, StreamHandle);
#define LESEG_ATTN_INST_T(T) LESEG_ATTN_INST(T, int32_t) LESEG_ATTN_INST(T, int64_t)
LESEG_ATTN_INST_T(float)
LESEG_ATTN_INST_T(f16_t)
LESEG_ATTN_INST_T(bf16_t)
#undef LESEG_ATTN_INST_T
#undef LESEG_ATTN_INST

}  // namespace leseg::kernels
