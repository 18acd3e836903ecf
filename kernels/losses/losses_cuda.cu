// SPDX-License-Identifier: Apache-2.0
// CUDA fused losses. Each row loss is one functor templated on the thread group that shares a row:
//   WarpGroup  (LossVariant::WarpPerRow): 32 lanes stride over the C classes, 8 rows in flight per
//              256-thread block; statistics merged with xor-shuffles.
//   BlockGroup (LossVariant::BlockPerRow): the 256 threads of a block share one row (wide rows, C = 4096);
//              warp shuffles, then the 8 warp partials combined from shared memory in a fixed order, so
//              every thread ends with bitwise the same statistics (branches on them stay block-uniform).
// loss_variant_for(C) picks one (losses.h). Per-row losses are summed per block in shared memory, then one
// double atomicAdd per block into acc (so the sum's order varies run to run at the ulp level; the CPU twin
// is the deterministic reference), or, given a partials buffer (deterministic mode), written to the block's
// slot and summed by a second fixed-order pass (loss_reduce_math.h): bit-identical repeats. Storage type T (f32, f64, f16, bf16) is converted per element with
// cvt<A>; inside a row the arithmetic type is A = loss_param_t<T> (f32 for f32/f16/bf16, f64 for f64);
// gradients are stored back as T. Out-of-range labels are treated as ignored here and recorded in the device
// error slot (kernels/device_error/device_error.h), which the engine turns into the CPU twin's error once per step.
#include <algorithm>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/device_error/device_error.h"
#include "kernels/losses/losses.h"
#include "kernels/losses/losses_math.h"

namespace leseg::kernels {
namespace {
using losses::cvt;
using losses::lexp;
using losses::RowStats;
using losses::stats_empty;
using losses::stats_lse;
using losses::stats_merge;
using losses::stats_push;

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarps = 8;  // warps per block
constexpr int kThreads = kWarps * 32;

// ---- shuffles and combiners for the values a row reduces ----
template <class A>
struct ArgMax {
  A best;
  int64_t arg;
};

template <class V>
__device__ V shfl_xor(V v, int off) { return __shfl_xor_sync(kFull, v, off); }
template <class A>
__device__ RowStats<A> shfl_xor(RowStats<A> s, int off) {
  return RowStats<A>{shfl_xor(s.m, off), shfl_xor(s.s, off), shfl_xor(s.t, off)};
}
template <class A>
__device__ ArgMax<A> shfl_xor(ArgMax<A> a, int off) { return ArgMax<A>{shfl_xor(a.best, off), shfl_xor(a.arg, off)}; }

struct Sum {
  template <class V>
  __device__ V operator()(V a, V b) const { return a + b; }
};
struct Merge {
  template <class A>
  __device__ RowStats<A> operator()(RowStats<A> a, const RowStats<A>& b) const {
    stats_merge(a, b);
    return a;
  }
};
// Larger value, the smaller index among equal values (the first max).
struct FirstMax {
  template <class A>
  __device__ ArgMax<A> operator()(ArgMax<A> a, const ArgMax<A>& b) const {
    return (b.best > a.best || (b.best == a.best && b.arg < a.arg)) ? b : a;
  }
};

struct WarpGroup {
  static constexpr int size = 32;
  int rank;  // lane
  template <class V, class F>
  __device__ V all_reduce(V v, F f) const {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = f(v, shfl_xor(v, off));
    return v;
  }
  // Lane 0's value on every lane: the butterfly above can leave lanes with different results when a value
  // is NaN (comparisons fail), or ulp-different merges; decisions that drive shuffles must be warp-uniform.
  template <class V>
  __device__ V uniform(V v) const { return __shfl_sync(kFull, v, 0); }
};

struct BlockGroup {
  static constexpr int size = kThreads;
  int rank;                 // threadIdx.x
  unsigned char* scratch;   // shared memory, kWarps * 32 bytes
  template <class V, class F>
  __device__ V all_reduce(V v, F f) const {
    static_assert(sizeof(V) <= 32, "BlockGroup scratch holds 32 bytes per warp");
    v = WarpGroup{rank & 31}.all_reduce(v, f);
    V* sh = reinterpret_cast<V*>(scratch);
    __syncthreads();  // readers of the previous reduction are done with the scratch
    if ((rank & 31) == 0) sh[rank >> 5] = v;
    __syncthreads();
    V r = sh[0];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) r = f(r, sh[w]);
    return r;
  }
  template <class V>
  __device__ V uniform(V v) const { return v; }  // all_reduce results are already identical on every thread
};

// Sums the per-thread accumulators of a block (only rank-0 threads of a group hold non-zero ones) in a fixed
// order, then either adds them to acc with one atomic per slot (partials == nullptr) or writes them to the block's
// own slot partials[k · kLossDetBlocks + block] for the fixed-order pass 2 (finish_partials_kernel).
template <int NACC>
__device__ void block_accumulate(const double* local, double* acc, double* partials) {
  __shared__ double sh[NACC][kWarps];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0)
    for (int k = 0; k < NACC; ++k) sh[k][warp] = local[k];
  __syncthreads();
  if (threadIdx.x < NACC) {
    double s = 0.0;
    for (int w = 0; w < kWarps; ++w) s += sh[threadIdx.x][w];
    if (partials) partials[int64_t(threadIdx.x) * kLossDetBlocks + blockIdx.x] = s;
    else atomicAdd(&acc[threadIdx.x], s);
  }
}

// Pass 2 of the deterministic reduction: block k sums slot k's `blocks` partials in loss_reduce_math.h's order.
__global__ void __launch_bounds__(losses::kFinishThreads) finish_partials_kernel(const double* partials, int blocks,
                                                                                 double* acc) {
  __shared__ double sh[losses::kFinishThreads];
  const int t = threadIdx.x;
  sh[t] = losses::strided_partial(partials + int64_t(blockIdx.x) * kLossDetBlocks, blocks, t);
  __syncthreads();
  for (int stride = losses::kFinishThreads / 2; stride > 0; stride /= 2) {
    if (t < stride) sh[t] += sh[t + stride];
    __syncthreads();
  }
  if (t == 0) acc[blockIdx.x] = sh[0];
}

template <int NACC, class Op>
__global__ void __launch_bounds__(kThreads) warp_rows_kernel(Op op, int64_t rows, double* acc, double* partials) {
  const int warp = threadIdx.x >> 5;
  double local[NACC];
  for (int k = 0; k < NACC; ++k) local[k] = 0.0;
  const WarpGroup g{int(threadIdx.x & 31)};
  for (int64_t r = int64_t(blockIdx.x) * kWarps + warp; r < rows; r += int64_t(gridDim.x) * kWarps) op(r, g, local);
  block_accumulate<NACC>(local, acc, partials);
}

template <int NACC, class Op>
__global__ void __launch_bounds__(kThreads) block_rows_kernel(Op op, int64_t rows, double* acc, double* partials) {
  __shared__ alignas(16) unsigned char scratch[kWarps * 32];
  double local[NACC];
  for (int k = 0; k < NACC; ++k) local[k] = 0.0;
  const BlockGroup g{int(threadIdx.x), scratch};
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) op(r, g, local);  // block-uniform loop
  block_accumulate<NACC>(local, acc, partials);
}

template <int NACC, class Op>
void launch_rows(const Op& op, int64_t rows, int64_t width, LossVariant variant, double* acc, double* partials,
                 StreamHandle s, const char* name) {
  cuda::NvtxRange r(name);
  // The atomic path adds into acc (zeroed first); pass 2 writes acc, so only an empty launch needs the zeros.
  if (rows <= 0 || !partials) LESEG_CUDA_CHECK(cudaMemsetAsync(acc, 0, NACC * sizeof(double), cuda::stream_of(s)));
  if (rows <= 0) return;
  const bool block_rows = loss_variant_for(width, variant) == LossVariant::BlockPerRow;
  int64_t blocks = block_rows ? std::min<int64_t>(rows, int64_t(1) << 16)
                              : std::min<int64_t>((rows + kWarps - 1) / kWarps, int64_t(1) << 16);
  if (partials) blocks = losses::det_grid(blocks);  // every block owns a partials slot
  if (block_rows)
    block_rows_kernel<NACC><<<unsigned(blocks), kThreads, 0, cuda::stream_of(s)>>>(op, rows, acc, partials);
  else
    warp_rows_kernel<NACC><<<unsigned(blocks), kThreads, 0, cuda::stream_of(s)>>>(op, rows, acc, partials);
  LESEG_CUDA_CHECK_LAUNCH(name);
  if (partials) {
    finish_partials_kernel<<<NACC, losses::kFinishThreads, 0, cuda::stream_of(s)>>>(partials, int(blocks), acc);
    LESEG_CUDA_CHECK_LAUNCH("leseg::loss_finish_partials");
  }
}

// CE row (weights w may be null). Returns ℓ_i (valid on every thread of the group).
// W = Σ_k w_k is recomputed per row from the (cache-resident) weight vector.
template <class T, class G, class A = loss_param_t<T>>
__device__ A ce_row(const T* zi, int64_t yi, const A* w, int64_t C, A eps, T* di, const G& g) {
  RowStats<A> st = stats_empty<A>();
  A swz = 0, W = 0;
  for (int64_t k = g.rank; k < C; k += G::size) {
    const A zk = cvt<A>(zi[k]), wk = w ? w[k] : A(1);
    stats_push(st, zk, A(0));
    swz += wk * zk;
    W += wk;
  }
  st = g.all_reduce(st, Merge{});
  swz = g.all_reduce(swz, Sum{});
  W = g.all_reduce(W, Sum{});
  const A lse = stats_lse(st), wy = w ? w[yi] : A(1);
  if (di)
    for (int64_t k = g.rank; k < C; k += G::size)
      di[k] = cvt<T>(losses::ce_grad(lexp(A(cvt<A>(zi[k]) - lse)), k == yi, wy, w ? w[k] : A(1), W, eps, A(C)));
  return losses::ce_row_loss(lse, cvt<A>(zi[yi]), wy, W, swz, eps, A(C));
}

template <class T, class G, class A = loss_param_t<T>>
__device__ A nl_row(const T* zi, int64_t yi, int64_t C, T* di, const G& g) {
  RowStats<A> all = stats_empty<A>(), rest = stats_empty<A>();
  for (int64_t k = g.rank; k < C; k += G::size) {
    const A zk = cvt<A>(zi[k]);
    stats_push(all, zk, A(0));
    if (k != yi) stats_push(rest, zk, A(0));
  }
  all = g.all_reduce(all, Merge{});
  rest = g.all_reduce(rest, Merge{});
  const A lse = stats_lse(all), lse_r = stats_lse(rest);
  if (di)
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A zk = cvt<A>(zi[k]);
      di[k] = cvt<T>(lexp(A(zk - lse)) - (k == yi ? A(0) : lexp(A(zk - lse_r))));
    }
  return losses::softplus(A(cvt<A>(zi[yi]) - lse_r));  // = lse - lse_r, without its cancellation
}

template <class T, class G>
__device__ void zero_row(T* di, int64_t C, const G& g) {
  if (di)
    for (int64_t k = g.rank; k < C; k += G::size) di[k] = cvt<T>(0.0f);
}

template <class T, class A = loss_param_t<T>>
struct CeOp {
  const T* z; const int64_t* y; const A* w; int64_t C, ignore; A eps; T* dz;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    T* di = dz ? dz + i * C : nullptr;
    const int64_t yi = y[i];
    if (yi == ignore || yi < 0 || yi >= C) return zero_row(di, C, g);
    const A l = ce_row(z + i * C, yi, w, C, eps, di, g);
    if (g.rank == 0) local[0] += double(l), local[1] += double(w ? w[yi] : A(1));
  }
};

template <class T, class A = loss_param_t<T>>
struct SoftCeOp {
  const T* z; const T* p; int64_t C; T* dz; T* dp;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    const T* zi = z + i * C;
    const T* pi = p + i * C;
    RowStats<A> st = stats_empty<A>();
    A sp = 0, spz = 0;
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A zk = cvt<A>(zi[k]), pk = cvt<A>(pi[k]);
      stats_push(st, zk, A(0));
      sp += pk;
      spz += pk * zk;
    }
    st = g.all_reduce(st, Merge{});
    sp = g.all_reduce(sp, Sum{});
    spz = g.all_reduce(spz, Sum{});
    const A lse = stats_lse(st);
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A zk = cvt<A>(zi[k]);
      if (dz) dz[i * C + k] = cvt<T>(sp * lexp(A(zk - lse)) - cvt<A>(pi[k]));
      if (dp) dp[i * C + k] = cvt<T>(lse - zk);
    }
    if (g.rank == 0) local[0] += double(sp * lse - spz), local[1] += 1.0;
  }
};

template <class T, class A = loss_param_t<T>>
struct EntropyOp {
  const T* z; int64_t C; T* dz;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    const T* zi = z + i * C;
    RowStats<A> st = stats_empty<A>();
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A zk = cvt<A>(zi[k]);
      stats_push(st, zk, zk);
    }
    st = g.all_reduce(st, Merge{});
    const A lse = stats_lse(st), ez = st.t / st.s;
    if (dz)
      for (int64_t k = g.rank; k < C; k += G::size) {
        const A zk = cvt<A>(zi[k]);
        dz[i * C + k] = cvt<T>(losses::entropy_grad(lexp(A(zk - lse)), zk, ez));
      }
    if (g.rank == 0) local[0] += double(lse - ez), local[1] += 1.0;
  }
};

template <class T, class A = loss_param_t<T>>
struct KlOp {
  const T* zp; const T* zq; int64_t C; A t, it; T* dzp; T* dzq;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    const T* ai = zp + i * C;
    const T* bi = zq + i * C;
    RowStats<A> sa = stats_empty<A>(), sb = stats_empty<A>();
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A a = cvt<A>(ai[k]) * it, b = cvt<A>(bi[k]) * it;
      stats_push(sa, a, A(a - b));
      stats_push(sb, b, A(0));
    }
    sa = g.all_reduce(sa, Merge{});
    sb = g.all_reduce(sb, Merge{});
    const A la = stats_lse(sa), lb = stats_lse(sb), e = sa.t / sa.s;
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A a = cvt<A>(ai[k]) * it, b = cvt<A>(bi[k]) * it, pk = lexp(A(a - la)), qk = lexp(A(b - lb));
      if (dzp) dzp[i * C + k] = cvt<T>(t * pk * ((a - b) - e));
      if (dzq) dzq[i * C + k] = cvt<T>(t * (qk - pk));
    }
    if (g.rank == 0) local[0] += double(t * t * (e - la + lb)), local[1] += 1.0;
  }
};

template <class T, class A = loss_param_t<T>>
struct NlOp {
  const T* z; const int64_t* y; int64_t C, ignore; T* dz;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    T* di = dz ? dz + i * C : nullptr;
    const int64_t yi = y[i];
    if (yi == ignore || yi < 0 || yi >= C) return zero_row(di, C, g);
    const A l = nl_row(z + i * C, yi, C, di, g);
    if (g.rank == 0) local[0] += double(l), local[1] += 1.0;
  }
};

template <class T, class A = loss_param_t<T>>
struct SplitOp {
  const T* z; const T* tz; int64_t C; A tau; uint8_t* reliable; int64_t* pseudo; T* dz;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    const T* ti = tz + i * C;
    RowStats<A> st = stats_empty<A>();
    // First max: per thread the smallest index among its maxima, then the smallest among equal maxima.
    ArgMax<A> am{A(-INFINITY), C};
    for (int64_t k = g.rank; k < C; k += G::size) {
      const A v = cvt<A>(ti[k]);
      stats_push(st, v, A(0));
      if (v > am.best || am.arg == C) am = ArgMax<A>{v, k};
    }
    st = g.all_reduce(st, Merge{});
    am = g.all_reduce(am, FirstMax{});
    // The pseudo label written and the one the CE / NL row uses are the same on every thread, and the CE /
    // NL branch (with its reductions) is group-uniform, even with a NaN teacher logit.
    const int64_t arg = g.uniform(am.arg);
    const bool rel = g.uniform(int(losses::max_prob(st) >= tau)) != 0;
    T* di = dz ? dz + i * C : nullptr;
    if (g.rank == 0) reliable[i] = rel ? 1 : 0, pseudo[i] = arg;
    if (rel) {
      const A l = ce_row(z + i * C, arg, static_cast<const A*>(nullptr), C, A(0), di, g);
      if (g.rank == 0) local[0] += double(l), local[1] += 1.0;
    } else {
      const A l = nl_row(z + i * C, arg, C, di, g);
      if (g.rank == 0) local[2] += double(l), local[3] += 1.0;
    }
  }
};

template <class T, class A = loss_param_t<T>>
struct CosOp {
  const T* a; const T* b; int64_t D; T* da; T* db;
  template <class G>
  __device__ void operator()(int64_t i, const G& g, double* local) const {
    const T* ai = a + i * D;
    const T* bi = b + i * D;
    A ab = 0, aa = 0, bb = 0;
    for (int64_t k = g.rank; k < D; k += G::size) {
      const A x = cvt<A>(ai[k]), y = cvt<A>(bi[k]);
      ab += x * y, aa += x * x, bb += y * y;
    }
    ab = g.all_reduce(ab, Sum{});
    aa = g.all_reduce(aa, Sum{});
    bb = g.all_reduce(bb, Sum{});
    const A na2 = aa + A(losses::kCosEps), nb2 = bb + A(losses::kCosEps), den = sqrt(na2 * nb2), c = ab / den;
    for (int64_t k = g.rank; k < D; k += G::size) {
      const A x = cvt<A>(ai[k]), y = cvt<A>(bi[k]);
      if (da) da[i * D + k] = cvt<T>(-(y / den - c * x / na2));
      if (db) db[i * D + k] = cvt<T>(-(x / den - c * y / nb2));
    }
    if (g.rank == 0) local[0] += double(A(1) - c), local[1] += 1.0;
  }
};

// MSE: "row" r is the chunk [r·kChunk, (r+1)·kChunk) of the flat arrays (always warp per chunk).
constexpr int64_t kChunk = 256;
template <class T, class A = loss_param_t<T>>
struct MseOp {
  const T* a; const T* b; int64_t n; T* da;
  template <class G>
  __device__ void operator()(int64_t r, const G& g, double* local) const {
    const int64_t end = min(n, (r + 1) * kChunk);
    A s = 0;
    for (int64_t i = r * kChunk + g.rank; i < end; i += G::size) {
      const A d = cvt<A>(a[i]) - cvt<A>(b[i]);
      if (da) da[i] = cvt<T>(A(2) * d);
      s += d * d;
    }
    s = g.all_reduce(s, Sum{});
    if (g.rank == 0) local[0] += double(s), local[1] += double(end - r * kChunk);
  }
};
}  // namespace

template <class T>
void cross_entropy_cuda(const T* z, const int64_t* y, const loss_param_t<T>* w, int64_t N, int64_t C, int64_t ignore,
                        double eps, T* dz, double* acc, StreamHandle s, LossVariant variant, double* partials) {
  using A = loss_param_t<T>;
  LESEG_KCHECK(C >= 1, "cross_entropy: C = ", C);
  check_ids_cuda(y, N, 0, C, ignore, DeviceErrorCode::CrossEntropyLabel, s);
  launch_rows<2>(CeOp<T>{z, y, w, C, ignore, A(eps), dz}, N, C, variant, acc, partials, s, "leseg::cross_entropy");
}
template <class T>
void soft_cross_entropy_cuda(const T* z, const T* p, int64_t N, int64_t C, T* dz, T* dp, double* acc, StreamHandle s,
                             LossVariant variant, double* partials) {
  launch_rows<2>(SoftCeOp<T>{z, p, C, dz, dp}, N, C, variant, acc, partials, s, "leseg::soft_cross_entropy");
}
template <class T>
void entropy_cuda(const T* z, int64_t N, int64_t C, T* dz, double* acc, StreamHandle s, LossVariant variant, double* partials) {
  launch_rows<2>(EntropyOp<T>{z, C, dz}, N, C, variant, acc, partials, s, "leseg::entropy");
}
template <class T>
void kl_div_cuda(const T* zp, const T* zq, int64_t N, int64_t C, double t, T* dzp, T* dzq, double* acc, StreamHandle s,
                 LossVariant variant, double* partials) {
  using A = loss_param_t<T>;
  LESEG_KCHECK(t > 0, "kl_div: temperature ", t, " must be > 0");
  launch_rows<2>(KlOp<T>{zp, zq, C, A(t), A(1.0 / t), dzp, dzq}, N, C, variant, acc, partials, s, "leseg::kl_div");
}
template <class T>
void negative_learning_cuda(const T* z, const int64_t* y, int64_t N, int64_t C, int64_t ignore, T* dz, double* acc,
                            StreamHandle s, LossVariant variant, double* partials) {
  LESEG_KCHECK(C >= 2, "negative_learning: needs C >= 2 classes (got ", C, ")");
  check_ids_cuda(y, N, 0, C, ignore, DeviceErrorCode::NegativeLearningLabel, s);
  launch_rows<2>(NlOp<T>{z, y, C, ignore, dz}, N, C, variant, acc, partials, s, "leseg::negative_learning");
}
template <class T>
void confidence_split_cuda(const T* z, const T* tz, int64_t N, int64_t C, double tau, uint8_t* reliable,
                           int64_t* pseudo, T* dz, double* acc, StreamHandle s, LossVariant variant, double* partials) {
  using A = loss_param_t<T>;
  LESEG_KCHECK(C >= 2, "confidence_split: needs C >= 2 classes (got ", C, ")");
  launch_rows<4>(SplitOp<T>{z, tz, C, A(tau), reliable, pseudo, dz}, N, C, variant, acc, partials, s,
                 "leseg::confidence_split");
}
template <class T>
void cosine_embedding_cuda(const T* a, const T* b, int64_t N, int64_t D, T* da, T* db, double* acc, StreamHandle s,
                           LossVariant variant, double* partials) {
  launch_rows<2>(CosOp<T>{a, b, D, da, db}, N, D, variant, acc, partials, s, "leseg::cosine_embedding");
}
template <class T>
void mse_cuda(const T* a, const T* b, int64_t n, T* da, double* acc, StreamHandle s, double* partials) {
  launch_rows<2>(MseOp<T>{a, b, n, da}, (n + kChunk - 1) / kChunk, kChunk, LossVariant::WarpPerRow, acc, partials, s,
                 "leseg::mse");
}
template <class P>
void loss_finalize_cuda(const double* acc, int num, int den, double scale, P* loss, StreamHandle s) {
  cuda::for_each(
      1, [=] __device__(int64_t) { loss[0] = acc[den] == 0.0 ? P(0) : P(scale * acc[num] / acc[den]); }, s,
      "leseg::loss_finalize");
}
template <class T>
void loss_grad_scale_cuda(const T* d, int64_t n, const loss_param_t<T>* g, const double* acc, int den, double scale,
                          T* out, StreamHandle s) {
  cuda::for_each(
      n,
      [=] __device__(int64_t i) {
        const double f = acc[den] == 0.0 ? 0.0 : double(g[0]) * scale / acc[den];
        out[i] = cvt<T>(cvt<double>(d[i]) * f);
      },
      s, "leseg::loss_grad_scale");
}
template <class T>
void confidence_split_grad_cuda(const T* dz, const uint8_t* reliable, int64_t N, int64_t C,
                                const loss_param_t<T>* g_ce, const loss_param_t<T>* g_nl, const double* acc, T* out,
                                StreamHandle s) {
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const bool r = reliable[j / C];
        const double den = r ? acc[1] : acc[3];
        const double f = den == 0.0 ? 0.0 : double(r ? g_ce[0] : g_nl[0]) / den;
        out[j] = cvt<T>(cvt<double>(dz[j]) * f);
      },
      s, "leseg::confidence_split_grad");
}

#define X(T)                                                                                                      \
  template void cross_entropy_cuda<T>(const T*, const int64_t*, const loss_param_t<T>*, int64_t, int64_t,         \
                                      int64_t, double, T*, double*, StreamHandle, LossVariant, double*);                   \
  template void soft_cross_entropy_cuda<T>(const T*, const T*, int64_t, int64_t, T*, T*, double*, StreamHandle,   \
                                           LossVariant, double*);                                                          \
  template void entropy_cuda<T>(const T*, int64_t, int64_t, T*, double*, StreamHandle, LossVariant, double*);              \
  template void kl_div_cuda<T>(const T*, const T*, int64_t, int64_t, double, T*, T*, double*, StreamHandle,       \
                               LossVariant, double*);                                                                      \
  template void negative_learning_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, double*,       \
                                          StreamHandle, LossVariant, double*);                                             \
  template void confidence_split_cuda<T>(const T*, const T*, int64_t, int64_t, double, uint8_t*, int64_t*, T*,    \
                                         double*, StreamHandle, LossVariant, double*);                                     \
  template void cosine_embedding_cuda<T>(const T*, const T*, int64_t, int64_t, T*, T*, double*, StreamHandle,     \
                                         LossVariant, double*);                                                            \
  template void mse_cuda<T>(const T*, const T*, int64_t, T*, double*, StreamHandle, double*);                              \
  template void loss_grad_scale_cuda<T>(const T*, int64_t, const loss_param_t<T>*, const double*, int, double,    \
                                        T*, StreamHandle);                                                        \
  template void confidence_split_grad_cuda<T>(const T*, const uint8_t*, int64_t, int64_t, const loss_param_t<T>*, \
                                              const loss_param_t<T>*, const double*, T*, StreamHandle);
X(float)
X(double)
X(f16_t)
X(bf16_t)
#undef X
template void loss_finalize_cuda<float>(const double*, int, int, double, float*, StreamHandle);
template void loss_finalize_cuda<double>(const double*, int, int, double, double*, StreamHandle);

}  // namespace leseg::kernels
