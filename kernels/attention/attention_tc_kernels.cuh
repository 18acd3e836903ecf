// SPDX-License-Identifier: Apache-2.0
// The tensor-core attention kernels themselves (device code only), included by attention_tc_cuda.cu, which holds
// the host launchers; see its header for the algorithm. Kept apart so that the CPU warp emulator
// (tests/support/warp_emu.h) compiles the very same kernel bodies and runs them against the CPU twin
// (tests/kernels/attention/attention_tc_emulated_test.cpp): the only spellings that differ go through
// kernels/common/device_emu.h (shared memory, the mma instruction).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_math.h"
#include "kernels/attention/attention_tc_math.h"
#include "kernels/common/device_emu.h"
#include "kernels/common/half_math.h"

namespace leseg::kernels {
namespace {

using namespace attn_tc;

template <class T>
__device__ __forceinline__ float ldf(T x) { return Convert<float, T>::apply(x); }
template <class T>
__device__ __forceinline__ uint16_t bits_of(float x) { return Convert<T, float>::apply(x).bits; }
__device__ __forceinline__ uint32_t pack(uint16_t lo, uint16_t hi) { return uint32_t(lo) | (uint32_t(hi) << 16); }

// D += A B on one m16n8k16 tile; A and B hold T (f16 or bf16) pairs.
template <class T>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, bf16_t>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#elif defined(LESEG_WARP_EMU)
  warp_emu::mma_m16n8k16<T>(d, a, b);  // the CPU warp emulator's PTX-layout mma
#else
  __trap();  // the host launcher refuses devices below sm_80
#endif
}

// Fragment gathers from a shared-memory tile of halves (row stride `ld`), at the offsets of attention_tc_math.h
// (off_a / off_b_nk / off_b_kn, tested on the CPU). Slots 2r and 2r+1 are neighbouring columns (A) / neighbouring
// k of a B^T tile (b_nk), at an even offset: one 32-bit load.
__device__ __forceinline__ void ld_a(const uint16_t* sm, int ld, int r0, int c0, uint32_t (&a)[4]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < 4; ++r) a[r] = *reinterpret_cast<const uint32_t*>(sm + off_a(lane, 2 * r, ld, r0, c0));
}
__device__ __forceinline__ void ld_b_nk(const uint16_t* sm, int ld, int n0, int k0, uint32_t (&b)[2]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < 2; ++r) b[r] = *reinterpret_cast<const uint32_t*>(sm + off_b_nk(lane, 2 * r, ld, n0, k0));
}
__device__ __forceinline__ void ld_b_kn(const uint16_t* sm, int ld, int k0, int n0, uint32_t (&b)[2]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int r = 0; r < 2; ++r)
    b[r] = pack(sm[off_b_kn(lane, 2 * r, ld, k0, n0)], sm[off_b_kn(lane, 2 * r + 1, ld, k0, n0)]);
}
// A fragments of a 16 x 16 block from the C accumulators of n-blocks (2 kc, 2 kc + 1), rounded to T.
template <class T, int N>
__device__ __forceinline__ void a_from_acc(const float (&c)[N][4], int kc, uint32_t (&a)[4]) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const CSlot s0 = a_from_c(2 * r), s1 = a_from_c(2 * r + 1);
    a[r] = pack(bits_of<T>(c[2 * kc + s0.nblock][s0.slot]), bits_of<T>(c[2 * kc + s1.nblock][s1.slot]));
  }
}

// Rows [r0, r0 + n) of head h of x (rows, H, D) into sm[rows][DP + 8] as raw halves; zero beyond n and D.
template <int DP, class T>
__device__ __forceinline__ void load_rows(const T* __restrict__ x, int64_t r0, int n, int rows, int64_t H, int64_t h,
                                          int D, uint16_t* sm) {
  constexpr int SP = DP + 8;
  for (int idx = threadIdx.x; idx < rows * DP; idx += kThreads) {
    const int r = idx / DP, c = idx % DP;
    sm[r * SP + c] = (r < n && c < D) ? x[((r0 + r) * H + h) * D + c].bits : uint16_t(0);
  }
}

template <class T>
__device__ __forceinline__ float key_term(const uint8_t* mask, const T* bias, int64_t key, int64_t H, int64_t h) {
  if (mask && mask[key]) return attn::neg_inf<float>();
  return bias ? ldf(bias[key * H + h]) : 0.f;
}
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// ---------------------------------------------------------------------------------------------------------------
template <int DP, class T>
__global__ void __launch_bounds__(kThreads) tc_fwd_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                          const T* __restrict__ v, const int32_t* __restrict__ table,
                                                          int64_t batch, const uint8_t* __restrict__ mask,
                                                          const T* __restrict__ bias, int64_t H, int D, float scale,
                                                          T* __restrict__ o, float* __restrict__ lse,
                                                          float* __restrict__ part) {
  constexpr int SP = DP + 8, KC = DP / 16, NB = DP / 8, SN = kBK / 8;
  LESEG_SHARED __align__(16) uint16_t Ks[kBK * SP];
  LESEG_SHARED __align__(16) uint16_t Vs[kBK * SP];
  LESEG_SHARED float kt[kBK];
  const QueryBlock qb = query_block(TableView{table, batch}, blockIdx.x);
  const int64_t h = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t r0 = qb.q0 + 16 * warp;
  uint32_t qa[KC][4];
#pragma unroll
  for (int kc = 0; kc < KC; ++kc)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      uint16_t e[2];
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const RC x = frag_a(lane, 2 * r + hh);
        const int64_t row = r0 + x.row;
        const int col = kc * 16 + x.col;
        e[hh] = (row < qb.q1 && col < D) ? q[(row * H + h) * D + col].bits : uint16_t(0);
      }
      qa[kc][r] = pack(e[0], e[1]);
    }
  float acc[NB][4];
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[n][i] = 0.f;
  float m[2] = {attn::neg_inf<float>(), attn::neg_inf<float>()}, l[2] = {0.f, 0.f};
  for (int64_t k0 = qb.k0; k0 < qb.k1; k0 += kBK) {
    const int nk = int(min(int64_t(kBK), qb.k1 - k0));
    __syncthreads();
    load_rows<DP>(k, k0, nk, kBK, H, h, D, Ks);
    load_rows<DP>(v, k0, nk, kBK, H, h, D, Vs);
    if (threadIdx.x < kBK) kt[threadIdx.x] = threadIdx.x < nk ? key_term(mask, bias, k0 + threadIdx.x, H, h) : attn::neg_inf<float>();
    __syncthreads();
    float s[SN][4];
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) s[n][i] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc)
#pragma unroll
      for (int n = 0; n < SN; ++n) {
        uint32_t b[2];
        ld_b_nk(Ks, SP, n * 8, kc * 16, b);
        mma<T>(s[n], qa[kc], b);
      }
    float tmax[2] = {attn::neg_inf<float>(), attn::neg_inf<float>()};
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float term = kt[n * 8 + frag_c(lane, i).col];
        s[n][i] = term == attn::neg_inf<float>() ? term : attn::logit(s[n][i], scale, term);
        tmax[i >> 1] = fmaxf(tmax[i >> 1], s[n][i]);
      }
    float alpha[2], mn[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mn[r] = attn::online_max(m[r], quad_max(tmax[r]), alpha[r]);
      l[r] *= alpha[r];
      m[r] = mn[r];
    }
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[n][i] *= alpha[i >> 1];
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        s[n][i] = attn::shifted_exp(s[n][i], mn[i >> 1]);
        l[i >> 1] += s[n][i];
      }
#pragma unroll
    for (int kc = 0; kc < kBK / 16; ++kc) {
      uint32_t pa[4];
      a_from_acc<T>(s, kc, pa);
#pragma unroll
      for (int n = 0; n < NB; ++n) {
        uint32_t b[2];
        ld_b_kn(Vs, SP, kc * 16, n * 8, b);
        mma<T>(acc[n], pa, b);
      }
    }
  }
  l[0] = quad_sum(l[0]);
  l[1] = quad_sum(l[1]);
  const int g = lane >> 2, t = lane & 3;
  if (qb.nsplit == 1) {
    float inv[2], L[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) inv[r] = attn::finalize(m[r], l[r], L[r]);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const RC x = frag_c(lane, i);
        const int64_t row = r0 + x.row;
        const int col = n * 8 + x.col;
        if (row < qb.q1 && col < D) o[(row * H + h) * D + col] = Convert<T, float>::apply(acc[n][i] * inv[i >> 1]);
      }
    if (t == 0)
#pragma unroll
      for (int r = 0; r < 2; ++r)
        if (r0 + g + 8 * r < qb.q1) lse[(r0 + g + 8 * r) * H + h] = L[r];
  } else {
    const int64_t RF = record_floats(DP);
#pragma unroll
    for (int n = 0; n < NB; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const RC x = frag_c(lane, i);
        const int64_t row = r0 + x.row;
        if (row < qb.q1) {
          const int64_t p = qb.prow0 + (row - qb.q0) * qb.nsplit + qb.split;
          part[(p * H + h) * RF + 2 + n * 8 + x.col] = acc[n][i];
        }
      }
    if (t == 0)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int64_t row = r0 + g + 8 * r;
        if (row < qb.q1) {
          const int64_t p = qb.prow0 + (row - qb.q0) * qb.nsplit + qb.split;
          part[(p * H + h) * RF] = m[r];
          part[(p * H + h) * RF + 1] = l[r];
        }
      }
  }
}

// One thread per (query row, head) of a split set: folds the split records in order.
template <int DP, class T>
__global__ void tc_fwd_combine_kernel(const int32_t* __restrict__ table, int64_t batch, int64_t tq, int64_t H, int D,
                                      const float* __restrict__ part, T* __restrict__ o, float* __restrict__ lse) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= tq * H) return;
  const TableView tv{table, batch};
  const int64_t row = idx / H, h = idx % H;
  const int64_t b = owner(tv.cu_q(), batch, row);
  const int64_t n = tv.nsplit()[b];
  if (n == 1) return;
  const int64_t RF = record_floats(DP);
  const int64_t p0 = tv.pslot()[b] + (row - tv.cu_q()[b]) * n;
  float acc[DP], L;
  const float inv = combine_splits(part + (p0 * H + h) * RF, n, H * RF, D, acc, L);
  for (int c = 0; c < D; ++c) o[(row * H + h) * D + c] = Convert<T, float>::apply(acc[c] * inv);
  lse[row * H + h] = L;
}

// ---------------------------------------------------------------------------------------------------------------
// dQ pass: the forward's schedule; S = Q K^T, P = exp(S - L), dP = dO V^T, dS = P (dP - D), dQ += dS K.
template <int DP, class T>
__global__ void __launch_bounds__(kThreads) tc_dq_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                         const T* __restrict__ v, const int32_t* __restrict__ table,
                                                         int64_t batch, const uint8_t* __restrict__ mask,
                                                         const T* __restrict__ bias, const float* __restrict__ lse,
                                                         const T* __restrict__ dout, const float* __restrict__ Di,
                                                         int64_t H, int D, float scale, T* __restrict__ dq,
                                                         float* __restrict__ part) {
  constexpr int SP = DP + 8, KC = DP / 16, NB = DP / 8, SN = kBK / 8;
  LESEG_DYN_SHARED(__align__(16) uint16_t, dyn, (2 * kBQ + 2 * kBK) * (DP + 8));
  uint16_t* Qb = dyn;
  uint16_t* dOb = Qb + kBQ * SP;
  uint16_t* Ks = dOb + kBQ * SP;
  uint16_t* Vs = Ks + kBK * SP;
  LESEG_SHARED float kt[kBK];
  const QueryBlock qb = query_block(TableView{table, batch}, blockIdx.x);
  const int64_t h = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t r0 = qb.q0 + 16 * warp;
  const int nq = int(qb.q1 - qb.q0);
  load_rows<DP>(q, qb.q0, nq, kBQ, H, h, D, Qb);
  load_rows<DP>(dout, qb.q0, nq, kBQ, H, h, D, dOb);
  float Lr[2], Dr[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t row = r0 + g + 8 * r;
    Lr[r] = row < qb.q1 ? lse[row * H + h] : INFINITY;
    Dr[r] = row < qb.q1 ? Di[row * H + h] : 0.f;
  }
  float acc[NB][4];
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[n][i] = 0.f;
  for (int64_t k0 = qb.k0; k0 < qb.k1; k0 += kBK) {
    const int nk = int(min(int64_t(kBK), qb.k1 - k0));
    __syncthreads();
    load_rows<DP>(k, k0, nk, kBK, H, h, D, Ks);
    load_rows<DP>(v, k0, nk, kBK, H, h, D, Vs);
    if (threadIdx.x < kBK) kt[threadIdx.x] = threadIdx.x < nk ? key_term(mask, bias, k0 + threadIdx.x, H, h) : attn::neg_inf<float>();
    __syncthreads();
    float s[SN][4], dp[SN][4];
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) s[n][i] = dp[n][i] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t aq[4], ad[4];
      ld_a(Qb, SP, 16 * warp, kc * 16, aq);
      ld_a(dOb, SP, 16 * warp, kc * 16, ad);
#pragma unroll
      for (int n = 0; n < SN; ++n) {
        uint32_t b[2];
        ld_b_nk(Ks, SP, n * 8, kc * 16, b);
        mma<T>(s[n], aq, b);
        ld_b_nk(Vs, SP, n * 8, kc * 16, b);
        mma<T>(dp[n], ad, b);
      }
    }
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float term = kt[n * 8 + frag_c(lane, i).col];
        const float sv = term == attn::neg_inf<float>() ? term : attn::logit(s[n][i], scale, term);
        s[n][i] = attn::dscore(attn::prob(sv, Lr[i >> 1]), dp[n][i], Dr[i >> 1]);
      }
#pragma unroll
    for (int kc = 0; kc < kBK / 16; ++kc) {
      uint32_t da[4];
      a_from_acc<T>(s, kc, da);
#pragma unroll
      for (int n = 0; n < NB; ++n) {
        uint32_t b[2];
        ld_b_kn(Ks, SP, kc * 16, n * 8, b);
        mma<T>(acc[n], da, b);
      }
    }
  }
  (void)t;
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const RC x = frag_c(lane, i);
      const int64_t row = r0 + x.row;
      const int col = n * 8 + x.col;
      if (row >= qb.q1 || col >= D) continue;
      if (qb.nsplit == 1) {
        dq[(row * H + h) * D + col] = Convert<T, float>::apply(acc[n][i] * scale);
      } else {
        const int64_t p = qb.prow0 + (row - qb.q0) * qb.nsplit + qb.split;
        part[(p * H + h) * DP + col] = acc[n][i] * scale;
      }
    }
}

// One thread per (query row, head, column) of a split set: dQ = sum of the split partials in split order.
template <int DP, class T>
__global__ void tc_dq_combine_kernel(const int32_t* __restrict__ table, int64_t batch, int64_t tq, int64_t H, int D,
                                     const float* __restrict__ part, T* __restrict__ dq) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= tq * H * D) return;
  const TableView tv{table, batch};
  const int64_t row = idx / (H * D), h = (idx / D) % H, c = idx % D;
  const int64_t b = owner(tv.cu_q(), batch, row);
  const int64_t n = tv.nsplit()[b];
  if (n == 1) return;
  const int64_t p0 = tv.pslot()[b] + (row - tv.cu_q()[b]) * n;
  float s = 0.f;
  for (int64_t sp = 0; sp < n; ++sp) s += part[((p0 + sp) * H + h) * DP + c];
  dq[idx] = Convert<T, float>::apply(s);
}

// ---------------------------------------------------------------------------------------------------------------
// dK / dV / dBias: keys as the M side. S^T = K Q^T, P^T, dP^T = V dO^T, dS^T; dV += P^T dO, dK += dS^T Q.
template <int DP, class T>
__global__ void __launch_bounds__(kThreads) tc_dkv_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                          const T* __restrict__ v, const int32_t* __restrict__ table,
                                                          int64_t batch, const uint8_t* __restrict__ mask,
                                                          const T* __restrict__ bias, const float* __restrict__ lse,
                                                          const T* __restrict__ dout, const float* __restrict__ Di,
                                                          int64_t H, int D, float scale, T* __restrict__ dk,
                                                          T* __restrict__ dv, T* __restrict__ dbias) {
  constexpr int SP = DP + 8, KC = DP / 16, NB = DP / 8, SN = kBQs / 8;
  LESEG_DYN_SHARED(__align__(16) uint16_t, dyn, (2 * kBQ + 2 * kBK) * (DP + 8));
  uint16_t* Kb = dyn;
  uint16_t* Vb = Kb + kBKeys * SP;
  uint16_t* Qs = Vb + kBKeys * SP;
  uint16_t* dOs = Qs + kBQs * SP;
  LESEG_SHARED float Ls[kBQs], Ds[kBQs];
  const KeyBlock kb = key_block(TableView{table, batch}, blockIdx.x);
  const int64_t h = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t r0 = kb.k0 + 16 * warp;
  const int nkeys = int(kb.k1 - kb.k0);
  load_rows<DP>(k, kb.k0, nkeys, kBKeys, H, h, D, Kb);
  load_rows<DP>(v, kb.k0, nkeys, kBKeys, H, h, D, Vb);
  float kt[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t key = r0 + g + 8 * r;
    kt[r] = key < kb.k1 ? key_term(mask, bias, key, H, h) : attn::neg_inf<float>();
  }
  float dka[NB][4], dva[NB][4], db[2] = {0.f, 0.f};
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int i = 0; i < 4; ++i) dka[n][i] = dva[n][i] = 0.f;
  for (int64_t q0 = kb.q0; q0 < kb.q1; q0 += kBQs) {
    const int nq = int(min(int64_t(kBQs), kb.q1 - q0));
    __syncthreads();
    load_rows<DP>(q, q0, nq, kBQs, H, h, D, Qs);
    load_rows<DP>(dout, q0, nq, kBQs, H, h, D, dOs);
    if (threadIdx.x < kBQs) {
      Ls[threadIdx.x] = threadIdx.x < nq ? lse[(q0 + threadIdx.x) * H + h] : INFINITY;
      Ds[threadIdx.x] = threadIdx.x < nq ? Di[(q0 + threadIdx.x) * H + h] : 0.f;
    }
    __syncthreads();
    float st[SN][4], dpt[SN][4];
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) st[n][i] = dpt[n][i] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t ak[4], av[4];
      ld_a(Kb, SP, 16 * warp, kc * 16, ak);
      ld_a(Vb, SP, 16 * warp, kc * 16, av);
#pragma unroll
      for (int n = 0; n < SN; ++n) {
        uint32_t b[2];
        ld_b_nk(Qs, SP, n * 8, kc * 16, b);
        mma<T>(st[n], ak, b);
        ld_b_nk(dOs, SP, n * 8, kc * 16, b);
        mma<T>(dpt[n], av, b);
      }
    }
#pragma unroll
    for (int n = 0; n < SN; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int qc = n * 8 + frag_c(lane, i).col;
        const float term = kt[i >> 1];
        const float sv = term == attn::neg_inf<float>() ? term : attn::logit(st[n][i], scale, term);
        const float p = attn::prob(sv, Ls[qc]);
        const float ds = attn::dscore(p, dpt[n][i], Ds[qc]);
        db[i >> 1] += ds;
        st[n][i] = p;
        dpt[n][i] = ds;
      }
#pragma unroll
    for (int kc = 0; kc < kBQs / 16; ++kc) {
      uint32_t pa[4], da[4];
      a_from_acc<T>(st, kc, pa);
      a_from_acc<T>(dpt, kc, da);
#pragma unroll
      for (int n = 0; n < NB; ++n) {
        uint32_t b[2];
        ld_b_kn(dOs, SP, kc * 16, n * 8, b);
        mma<T>(dva[n], pa, b);
        ld_b_kn(Qs, SP, kc * 16, n * 8, b);
        mma<T>(dka[n], da, b);
      }
    }
  }
  db[0] = quad_sum(db[0]);
  db[1] = quad_sum(db[1]);
#pragma unroll
  for (int n = 0; n < NB; ++n)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const RC x = frag_c(lane, i);
      const int64_t key = r0 + x.row;
      const int col = n * 8 + x.col;
      if (key < kb.k1 && col < D) {
        dk[(key * H + h) * D + col] = Convert<T, float>::apply(dka[n][i] * scale);
        dv[(key * H + h) * D + col] = Convert<T, float>::apply(dva[n][i]);
      }
    }
  if (dbias && t == 0)
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (r0 + g + 8 * r < kb.k1) dbias[(r0 + g + 8 * r) * H + h] = Convert<T, float>::apply(db[r]);
}

// D_i = <dO_i, o_i> of one (query, head) row, the backward's first pass (one thread per row).
template <class T>
__device__ __forceinline__ void tc_rowdot(int64_t row, const T* dout, const T* o, int64_t D, float* Di) {
  float acc = 0.f;
  for (int64_t c = 0; c < D; ++c) acc += ldf(dout[row * D + c]) * ldf(o[row * D + c]);
  Di[row] = acc;
}

}  // namespace
}  // namespace leseg::kernels
