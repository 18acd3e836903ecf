// SPDX-License-Identifier: Apache-2.0
// CUDA fused losses: one warp per row (lanes stride over the C classes; C up to 512 is ≤ 16 loads per
// lane), the online softmax statistics merged across the warp with shuffles, then the gradient row written
// by the same warp. Per-row losses are summed per warp, then per block in shared memory, then one double
// atomicAdd per block into acc (so the sum's order varies run to run at the ulp level; the CPU twin is the
// deterministic reference). Accumulation inside a row is in T (f32 for f32). Out-of-range labels are
// treated as ignored here (the CPU twin rejects them with an error). bf16/f16 logits: not yet supported.
#include <algorithm>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/losses/losses.h"
#include "kernels/losses/losses_math.h"

namespace leseg::kernels {
namespace {
using losses::RowStats;
using losses::stats_empty;
using losses::stats_lse;
using losses::stats_merge;
using losses::stats_push;
using losses::lexp;

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarps = 8;  // warps (rows in flight) per block

template <class A>
__device__ A warp_sum(A v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFull, v, off);
  return v;
}
template <class A>
__device__ RowStats<A> warp_merge(RowStats<A> st) {
  for (int off = 16; off > 0; off >>= 1) {
    RowStats<A> o{__shfl_xor_sync(kFull, st.m, off), __shfl_xor_sync(kFull, st.s, off),
                  __shfl_xor_sync(kFull, st.t, off)};
    stats_merge(st, o);
  }
  return st;
}

template <int NACC, class Op>
__global__ void __launch_bounds__(kWarps * 32) rows_kernel(Op op, int64_t rows, double* acc) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  double local[NACC];
  for (int k = 0; k < NACC; ++k) local[k] = 0.0;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + warp; r < rows; r += int64_t(gridDim.x) * kWarps) op(r, lane, local);
  __shared__ double sh[NACC][kWarps];
  if (lane == 0)
    for (int k = 0; k < NACC; ++k) sh[k][warp] = local[k];
  __syncthreads();
  if (threadIdx.x < NACC) {
    double s = 0.0;
    for (int w = 0; w < kWarps; ++w) s += sh[threadIdx.x][w];
    atomicAdd(&acc[threadIdx.x], s);
  }
}

template <int NACC, class Op>
void launch_rows(const Op& op, int64_t rows, double* acc, StreamHandle s, const char* name) {
  cuda::NvtxRange r(name);
  LESEG_CUDA_CHECK(cudaMemsetAsync(acc, 0, NACC * sizeof(double), cuda::stream_of(s)));
  if (rows <= 0) return;
  const int64_t blocks = std::min<int64_t>((rows + kWarps - 1) / kWarps, int64_t(1) << 16);
  rows_kernel<NACC><<<unsigned(blocks), kWarps * 32, 0, cuda::stream_of(s)>>>(op, rows, acc);
  LESEG_CUDA_CHECK_LAUNCH(name);
}

// CE row (weights w may be null). Returns ℓ_i (valid on every lane).
template <class T>
// W = Σ_k w_k is recomputed per row from the (cache-resident) weight vector.
__device__ T warp_ce_row(const T* zi, int64_t yi, const T* w, int64_t C, T eps, T* di, int lane) {
  RowStats<T> st = stats_empty<T>();
  T swz = 0, W = 0;
  for (int64_t k = lane; k < C; k += 32) {
    const T zk = zi[k], wk = w ? w[k] : T(1);
    stats_push(st, zk, T(0));
    swz += wk * zk;
    W += wk;
  }
  st = warp_merge(st);
  swz = warp_sum(swz);
  W = warp_sum(W);
  const T lse = stats_lse(st), wy = w ? w[yi] : T(1);
  if (di)
    for (int64_t k = lane; k < C; k += 32)
      di[k] = losses::ce_grad(lexp(T(zi[k] - lse)), k == yi, wy, w ? w[k] : T(1), W, eps, T(C));
  return losses::ce_row_loss(lse, zi[yi], wy, W, swz, eps, T(C));
}

template <class T>
__device__ T warp_nl_row(const T* zi, int64_t yi, int64_t C, T* di, int lane) {
  RowStats<T> all = stats_empty<T>(), rest = stats_empty<T>();
  for (int64_t k = lane; k < C; k += 32) {
    stats_push(all, zi[k], T(0));
    if (k != yi) stats_push(rest, zi[k], T(0));
  }
  all = warp_merge(all);
  rest = warp_merge(rest);
  const T lse = stats_lse(all), lse_r = stats_lse(rest);
  if (di)
    for (int64_t k = lane; k < C; k += 32) di[k] = lexp(T(zi[k] - lse)) - (k == yi ? T(0) : lexp(T(zi[k] - lse_r)));
  return lse - lse_r;
}

template <class T>
__device__ void warp_zero_row(T* di, int64_t C, int lane) {
  if (di)
    for (int64_t k = lane; k < C; k += 32) di[k] = T(0);
}

template <class T>
struct CeOp {
  const T* z; const int64_t* y; const T* w; int64_t C, ignore; T eps; T* dz;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    T* di = dz ? dz + i * C : nullptr;
    const int64_t yi = y[i];
    if (yi == ignore || yi < 0 || yi >= C) return warp_zero_row(di, C, lane);
    const T l = warp_ce_row(z + i * C, yi, w, C, eps, di, lane);
    if (lane == 0) local[0] += double(l), local[1] += double(w ? w[yi] : T(1));
  }
};

template <class T>
struct SoftCeOp {
  const T* z; const T* p; int64_t C; T* dz; T* dp;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    const T* zi = z + i * C;
    const T* pi = p + i * C;
    RowStats<T> st = stats_empty<T>();
    T sp = 0, spz = 0;
    for (int64_t k = lane; k < C; k += 32) {
      stats_push(st, zi[k], T(0));
      sp += pi[k];
      spz += pi[k] * zi[k];
    }
    st = warp_merge(st);
    sp = warp_sum(sp);
    spz = warp_sum(spz);
    const T lse = stats_lse(st);
    for (int64_t k = lane; k < C; k += 32) {
      if (dz) dz[i * C + k] = sp * lexp(T(zi[k] - lse)) - pi[k];
      if (dp) dp[i * C + k] = lse - zi[k];
    }
    if (lane == 0) local[0] += double(sp * lse - spz), local[1] += 1.0;
  }
};

template <class T>
struct EntropyOp {
  const T* z; int64_t C; T* dz;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    const T* zi = z + i * C;
    RowStats<T> st = stats_empty<T>();
    for (int64_t k = lane; k < C; k += 32) stats_push(st, zi[k], zi[k]);
    st = warp_merge(st);
    const T lse = stats_lse(st), ez = st.t / st.s;
    if (dz)
      for (int64_t k = lane; k < C; k += 32) dz[i * C + k] = losses::entropy_grad(lexp(T(zi[k] - lse)), zi[k], ez);
    if (lane == 0) local[0] += double(lse - ez), local[1] += 1.0;
  }
};

template <class T>
struct KlOp {
  const T* zp; const T* zq; int64_t C; T t, it; T* dzp; T* dzq;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    const T* ai = zp + i * C;
    const T* bi = zq + i * C;
    RowStats<T> sa = stats_empty<T>(), sb = stats_empty<T>();
    for (int64_t k = lane; k < C; k += 32) {
      const T a = ai[k] * it, b = bi[k] * it;
      stats_push(sa, a, T(a - b));
      stats_push(sb, b, T(0));
    }
    sa = warp_merge(sa);
    sb = warp_merge(sb);
    const T la = stats_lse(sa), lb = stats_lse(sb), e = sa.t / sa.s;
    for (int64_t k = lane; k < C; k += 32) {
      const T a = ai[k] * it, b = bi[k] * it, pk = lexp(T(a - la)), qk = lexp(T(b - lb));
      if (dzp) dzp[i * C + k] = t * pk * ((a - b) - e);
      if (dzq) dzq[i * C + k] = t * (qk - pk);
    }
    if (lane == 0) local[0] += double(t * t * (e - la + lb)), local[1] += 1.0;
  }
};

template <class T>
struct NlOp {
  const T* z; const int64_t* y; int64_t C, ignore; T* dz;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    T* di = dz ? dz + i * C : nullptr;
    const int64_t yi = y[i];
    if (yi == ignore || yi < 0 || yi >= C) return warp_zero_row(di, C, lane);
    const T l = warp_nl_row(z + i * C, yi, C, di, lane);
    if (lane == 0) local[0] += double(l), local[1] += 1.0;
  }
};

template <class T>
struct SplitOp {
  const T* z; const T* tz; int64_t C; T tau; uint8_t* reliable; int64_t* pseudo; T* dz;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    const T* ti = tz + i * C;
    RowStats<T> st = stats_empty<T>();
    T best = T(-INFINITY);
    int64_t arg = C;  // first max: per lane the smallest index, then the warp minimum among equal maxima
    for (int64_t k = lane; k < C; k += 32) {
      const T v = ti[k];
      stats_push(st, v, T(0));
      if (v > best || arg == C) best = v, arg = k;
    }
    st = warp_merge(st);
    for (int off = 16; off > 0; off >>= 1) {
      const T ob = __shfl_xor_sync(kFull, best, off);
      const int64_t oa = __shfl_xor_sync(kFull, arg, off);
      if (ob > best || (ob == best && oa < arg)) best = ob, arg = oa;
    }
    // With a NaN teacher logit the butterfly above does not converge (NaN compares false), so lanes could
    // hold different labels: take lane 0's, so the pseudo label written and the one the CE / NL row uses
    // are the same on every lane.
    arg = __shfl_sync(kFull, arg, 0);
    // Lanes merged the statistics in different orders (ulp differences): lane 0 decides for the warp so
    // the CE / NL branch (with its shuffles) is warp-uniform.
    const bool rel = __shfl_sync(kFull, int(losses::max_prob(st) >= tau), 0) != 0;
    T* di = dz ? dz + i * C : nullptr;
    if (lane == 0) reliable[i] = rel ? 1 : 0, pseudo[i] = arg;
    if (rel) {
      const T l = warp_ce_row(z + i * C, arg, static_cast<const T*>(nullptr), C, T(0), di, lane);
      if (lane == 0) local[0] += double(l), local[1] += 1.0;
    } else {
      const T l = warp_nl_row(z + i * C, arg, C, di, lane);
      if (lane == 0) local[2] += double(l), local[3] += 1.0;
    }
  }
};

template <class T>
struct CosOp {
  const T* a; const T* b; int64_t D; T* da; T* db;
  __device__ void operator()(int64_t i, int lane, double* local) const {
    const T* ai = a + i * D;
    const T* bi = b + i * D;
    T ab = 0, aa = 0, bb = 0;
    for (int64_t k = lane; k < D; k += 32) ab += ai[k] * bi[k], aa += ai[k] * ai[k], bb += bi[k] * bi[k];
    ab = warp_sum(ab);
    aa = warp_sum(aa);
    bb = warp_sum(bb);
    const T na2 = aa + T(losses::kCosEps), nb2 = bb + T(losses::kCosEps), den = sqrt(na2 * nb2), c = ab / den;
    for (int64_t k = lane; k < D; k += 32) {
      if (da) da[i * D + k] = -(bi[k] / den - c * ai[k] / na2);
      if (db) db[i * D + k] = -(ai[k] / den - c * bi[k] / nb2);
    }
    if (lane == 0) local[0] += double(T(1) - c), local[1] += 1.0;
  }
};

// MSE: "row" r is the chunk [r·kChunk, (r+1)·kChunk) of the flat arrays.
constexpr int64_t kChunk = 256;
template <class T>
struct MseOp {
  const T* a; const T* b; int64_t n; T* da;
  __device__ void operator()(int64_t r, int lane, double* local) const {
    const int64_t end = min(n, (r + 1) * kChunk);
    T s = 0;
    for (int64_t i = r * kChunk + lane; i < end; i += 32) {
      const T d = a[i] - b[i];
      if (da) da[i] = T(2) * d;
      s += d * d;
    }
    s = warp_sum(s);
    if (lane == 0) local[0] += double(s), local[1] += double(end - r * kChunk);
  }
};
}  // namespace

template <class T>
void cross_entropy_cuda(const T* z, const int64_t* y, const T* w, int64_t N, int64_t C, int64_t ignore, double eps,
                        T* dz, double* acc, StreamHandle s) {
  LESEG_KCHECK(C >= 1, "cross_entropy: C = ", C);
  launch_rows<2>(CeOp<T>{z, y, w, C, ignore, T(eps), dz}, N, acc, s, "leseg::cross_entropy");
}
template <class T>
void soft_cross_entropy_cuda(const T* z, const T* p, int64_t N, int64_t C, T* dz, T* dp, double* acc, StreamHandle s) {
  launch_rows<2>(SoftCeOp<T>{z, p, C, dz, dp}, N, acc, s, "leseg::soft_cross_entropy");
}
template <class T>
void entropy_cuda(const T* z, int64_t N, int64_t C, T* dz, double* acc, StreamHandle s) {
  launch_rows<2>(EntropyOp<T>{z, C, dz}, N, acc, s, "leseg::entropy");
}
template <class T>
void kl_div_cuda(const T* zp, const T* zq, int64_t N, int64_t C, double t, T* dzp, T* dzq, double* acc, StreamHandle s) {
  LESEG_KCHECK(t > 0, "kl_div: temperature ", t, " must be > 0");
  launch_rows<2>(KlOp<T>{zp, zq, C, T(t), T(1.0 / t), dzp, dzq}, N, acc, s, "leseg::kl_div");
}
template <class T>
void negative_learning_cuda(const T* z, const int64_t* y, int64_t N, int64_t C, int64_t ignore, T* dz, double* acc,
                            StreamHandle s) {
  LESEG_KCHECK(C >= 2, "negative_learning: needs C >= 2 classes (got ", C, ")");
  launch_rows<2>(NlOp<T>{z, y, C, ignore, dz}, N, acc, s, "leseg::negative_learning");
}
template <class T>
void confidence_split_cuda(const T* z, const T* tz, int64_t N, int64_t C, double tau, uint8_t* reliable,
                           int64_t* pseudo, T* dz, double* acc, StreamHandle s) {
  LESEG_KCHECK(C >= 2, "confidence_split: needs C >= 2 classes (got ", C, ")");
  launch_rows<4>(SplitOp<T>{z, tz, C, T(tau), reliable, pseudo, dz}, N, acc, s, "leseg::confidence_split");
}
template <class T>
void cosine_embedding_cuda(const T* a, const T* b, int64_t N, int64_t D, T* da, T* db, double* acc, StreamHandle s) {
  launch_rows<2>(CosOp<T>{a, b, D, da, db}, N, acc, s, "leseg::cosine_embedding");
}
template <class T>
void mse_cuda(const T* a, const T* b, int64_t n, T* da, double* acc, StreamHandle s) {
  launch_rows<2>(MseOp<T>{a, b, n, da}, (n + kChunk - 1) / kChunk, acc, s, "leseg::mse");
}
template <class T>
void loss_finalize_cuda(const double* acc, int num, int den, double scale, T* loss, StreamHandle s) {
  cuda::for_each(
      1, [=] __device__(int64_t) { loss[0] = acc[den] == 0.0 ? T(0) : T(scale * acc[num] / acc[den]); }, s,
      "leseg::loss_finalize");
}
template <class T>
void loss_grad_scale_cuda(const T* d, int64_t n, const T* g, const double* acc, int den, double scale, T* out,
                          StreamHandle s) {
  cuda::for_each(
      n,
      [=] __device__(int64_t i) {
        const double f = acc[den] == 0.0 ? 0.0 : double(g[0]) * scale / acc[den];
        out[i] = T(double(d[i]) * f);
      },
      s, "leseg::loss_grad_scale");
}
template <class T>
void confidence_split_grad_cuda(const T* dz, const uint8_t* reliable, int64_t N, int64_t C, const T* g_ce,
                                const T* g_nl, const double* acc, T* out, StreamHandle s) {
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const bool r = reliable[j / C];
        const double den = r ? acc[1] : acc[3];
        const double f = den == 0.0 ? 0.0 : double(r ? g_ce[0] : g_nl[0]) / den;
        out[j] = T(double(dz[j]) * f);
      },
      s, "leseg::confidence_split_grad");
}

#define X(T)                                                                                                      \
  template void cross_entropy_cuda<T>(const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, double, T*,  \
                                      double*, StreamHandle);                                                     \
  template void soft_cross_entropy_cuda<T>(const T*, const T*, int64_t, int64_t, T*, T*, double*, StreamHandle);  \
  template void entropy_cuda<T>(const T*, int64_t, int64_t, T*, double*, StreamHandle);                           \
  template void kl_div_cuda<T>(const T*, const T*, int64_t, int64_t, double, T*, T*, double*, StreamHandle);      \
  template void negative_learning_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, double*,       \
                                          StreamHandle);                                                          \
  template void confidence_split_cuda<T>(const T*, const T*, int64_t, int64_t, double, uint8_t*, int64_t*, T*,    \
                                         double*, StreamHandle);                                                  \
  template void cosine_embedding_cuda<T>(const T*, const T*, int64_t, int64_t, T*, T*, double*, StreamHandle);    \
  template void mse_cuda<T>(const T*, const T*, int64_t, T*, double*, StreamHandle);                              \
  template void loss_finalize_cuda<T>(const double*, int, int, double, T*, StreamHandle);                         \
  template void loss_grad_scale_cuda<T>(const T*, int64_t, const T*, const double*, int, double, T*,              \
                                        StreamHandle);                                                            \
  template void confidence_split_grad_cuda<T>(const T*, const uint8_t*, int64_t, int64_t, const T*, const T*,     \
                                              const double*, T*, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
