// SPDX-License-Identifier: Apache-2.0
// CUDA reductions, matching the CPU twin within rounding (double accumulation, fixed order, no atomics).
// The cut depends on the shape only (make_plan), so every run gives the same bits:
//   RowChunks (inner == 1, r > 64): block (c, o) reduces x[o, c*kReduceChunkCuda ...) with a fixed
//               shared-memory tree; when a row has > 1 chunk, one block per row combines the partials
//               with the same tree.
//   PerOutput  (short rows, or many outputs): one thread per output (o, i), serial over k (for inner > 1
//               adjacent threads read adjacent addresses).
//   ColChunks  (inner > 1, few outputs, long r, e.g. the mean over points of (N, C) features): thread j
//               of chunk c reduces a slice of r; partials are combined serially in chunk order.
// Everything accumulates into a double (or ArgAcc) buffer `fin` in the workspace; a last kernel converts
// to T (dividing by r for mean, r - correction for var). var runs the sum twice: mean, then (x - mean)².
// Workspace layout: [fin: nout][mean: nout (var only)][partials: partial_slots(d)].
#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/reduce/reduce.h"
#include "kernels/reduce/reduce_math.h"

namespace leseg::kernels {

namespace {

template <class T>
struct Ident {
  __device__ double operator()(T v, int64_t) const { return double(v); }
};
template <class T>
struct SqDev {
  const double* mean;
  __device__ double operator()(T v, int64_t j) const {
    double e = double(v) - mean[j];
    return e * e;
  }
};

struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct ArgOp {
  bool is_max;
  __device__ ArgAcc operator()(ArgAcc a, ArgAcc b) const { return arg_combine(a, b, is_max); }
};

// Fixed-order tree over kReduceThreads values; every thread returns the block result.
template <class Acc, class Comb>
__device__ Acc block_reduce(Acc v, Comb comb) {
  __shared__ Acc sh[kReduceThreads];
  const int t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (int s = kReduceThreads / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] = comb(sh[t], sh[t + s]);
    __syncthreads();
  }
  Acc r = sh[0];
  __syncthreads();
  return r;
}

// Per-element loaders: (value, k, output j) -> accumulator.
template <class T, class Tf>
struct SumLoad {
  Tf tf;
  __device__ double operator()(T v, int64_t, int64_t j) const { return tf(v, j); }
};
template <class T>
struct ArgLoad {
  __device__ ArgAcc operator()(T v, int64_t k, int64_t) const { return ArgAcc{double(v), k}; }
};

// Row chunks (inner == 1): block (c, o) reduces x[o, c*kReduceChunkCuda ...) -> dst[o * nch + c].
template <class T, class Acc, class Load, class Comb>
__global__ void row_chunks_kernel(const T* x, int64_t outer, int64_t R, int64_t nch, Acc identity, Load load, Comb comb,
                                  Acc* dst) {
  const int64_t c = blockIdx.x;
  const int64_t k0 = c * kReduceChunkCuda, k1 = min(k0 + kReduceChunkCuda, R);
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    Acc acc = identity;
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) acc = comb(acc, load(x[o * R + k], k, o));
    Acc s = block_reduce(acc, comb);
    if (threadIdx.x == 0) dst[o * nch + c] = s;
  }
}
// One block per row combines that row's nch partials with the block tree.
template <class Acc, class Comb>
__global__ void combine_rows_kernel(const Acc* part, int64_t outer, int64_t nch, Acc identity, Comb comb, Acc* fin) {
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    Acc acc = identity;
    for (int64_t c = threadIdx.x; c < nch; c += blockDim.x) acc = comb(acc, part[o * nch + c]);
    Acc s = block_reduce(acc, comb);
    if (threadIdx.x == 0) fin[o] = s;
  }
}
// Column chunks: thread j of chunk c (blockIdx.y) reduces k in [c*len, (c+1)*len) for output j.
// With len = R and one chunk this is the plain one-thread-per-output kernel.
template <class T, class Acc, class Load, class Comb>
__global__ void col_chunks_kernel(const T* x, int64_t outer, int64_t R, int64_t I, int64_t len, Acc identity, Load load,
                                  Comb comb, Acc* dst) {
  const int64_t nout = outer * I, c = blockIdx.y;
  const int64_t k0 = c * len, k1 = min(k0 + len, R);
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < nout; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = j / I, i = j % I;
    Acc acc = identity;
    for (int64_t k = k0; k < k1; ++k) acc = comb(acc, load(x[(o * R + k) * I + i], k, j));
    dst[c * nout + j] = acc;
  }
}
// Serial combine of column-chunk partials in chunk order (one thread per output).
template <class Acc, class Comb>
__global__ void combine_cols_kernel(const Acc* part, int64_t nout, int64_t nch, Acc identity, Comb comb, Acc* fin) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < nout; j += int64_t(gridDim.x) * blockDim.x) {
    Acc acc = identity;
    for (int64_t c = 0; c < nch; ++c) acc = comb(acc, part[c * nout + j]);
    fin[j] = acc;
  }
}

unsigned rows_grid(int64_t outer) { return unsigned(outer < 65535 ? (outer < 1 ? 1 : outer) : 65535); }

// How a (outer, r, inner) reduction is cut (a function of the shape only, so results are reproducible).
constexpr int64_t kSmallRow = 64;        // inner == 1 rows up to this length: one thread per output
constexpr int64_t kFewOutputs = 16384;   // fewer outputs than this and long r: split r into column chunks
constexpr int64_t kColChunk = 256;
struct CudaPlan {
  enum Kind { RowChunks, PerOutput, ColChunks } kind;
  int64_t nch, len;
};
CudaPlan make_plan(const ReduceDims& d) {
  const int64_t nout = d.outer * d.inner;
  if (d.inner == 1 && d.r > kSmallRow) return {CudaPlan::RowChunks, (d.r + kReduceChunkCuda - 1) / kReduceChunkCuda, kReduceChunkCuda};
  if (nout < kFewOutputs && d.r > 4 * kColChunk) {
    int64_t len = kColChunk, nch = (d.r + len - 1) / len;
    if (nch > 65535) len = (d.r + 65534) / 65535, nch = (d.r + len - 1) / len;
    return {CudaPlan::ColChunks, nch, len};
  }
  return {CudaPlan::PerOutput, 1, d.r};
}
// Partial slots the plan needs beyond `fin`.
size_t partial_slots(const ReduceDims& d) {
  const CudaPlan p = make_plan(d);
  if (p.nch <= 1) return 0;
  return size_t(p.nch) * size_t(p.kind == CudaPlan::RowChunks ? d.outer : d.outer * d.inner);
}

// fin[j] = comb over k of load(x[o, k, i], k, j)   (j = o * inner + i)
template <class T, class Acc, class Load, class Comb>
void reduce_into(const T* x, const ReduceDims& d, Acc identity, Load load, Comb comb, Acc* fin, Acc* part, cudaStream_t st) {
  const int64_t nout = d.outer * d.inner;
  const CudaPlan p = make_plan(d);
  if (p.kind == CudaPlan::RowChunks) {
    dim3 grid(unsigned(p.nch), rows_grid(d.outer));
    row_chunks_kernel<<<grid, kReduceThreads, 0, st>>>(x, d.outer, d.r, p.nch, identity, load, comb, p.nch > 1 ? part : fin);
    LESEG_CUDA_CHECK_LAUNCH("leseg::reduce row_chunks");
    if (p.nch > 1) {
      combine_rows_kernel<<<rows_grid(d.outer), kReduceThreads, 0, st>>>(part, d.outer, p.nch, identity, comb, fin);
      LESEG_CUDA_CHECK_LAUNCH("leseg::reduce combine_rows");
    }
    return;
  }
  dim3 grid(cuda::grid_for(nout, kReduceThreads), unsigned(p.nch));
  col_chunks_kernel<<<grid, kReduceThreads, 0, st>>>(x, d.outer, d.r, d.inner, p.len, identity, load, comb, p.nch > 1 ? part : fin);
  LESEG_CUDA_CHECK_LAUNCH("leseg::reduce col_chunks");
  if (p.nch > 1) {
    combine_cols_kernel<<<cuda::grid_for(nout, kReduceThreads), kReduceThreads, 0, st>>>(part, nout, p.nch, identity, comb, fin);
    LESEG_CUDA_CHECK_LAUNCH("leseg::reduce combine_cols");
  }
}

}  // namespace

size_t reduce_workspace_bytes_cuda(ReduceOp op, ReduceDims d) {
  const size_t nout = size_t(d.outer * d.inner);
  const size_t acc = (op == ReduceOp::max || op == ReduceOp::min) ? sizeof(ArgAcc) : sizeof(double);
  size_t bytes = nout * acc + partial_slots(d) * acc;
  if (op == ReduceOp::var) bytes += nout * sizeof(double);
  return bytes;
}

template <class T>
void reduce_forward_cuda(ReduceOp op, const T* x, T* out, int64_t* idx, ReduceDims d, int64_t correction, void* workspace,
                         size_t workspace_bytes, StreamHandle s) {
  const int64_t nout = d.outer * d.inner;
  if (nout <= 0) return;
  LESEG_KCHECK(workspace_bytes >= reduce_workspace_bytes_cuda(op, d), "reduce: workspace of ", workspace_bytes,
               " bytes, need ", reduce_workspace_bytes_cuda(op, d));
  cuda::NvtxRange range("leseg::reduce_forward");
  cudaStream_t st = cuda::stream_of(s);
  char* ws = static_cast<char*>(workspace);
  if (op == ReduceOp::max || op == ReduceOp::min) {
    LESEG_KCHECK(d.r > 0, "max/min over an empty dimension");
    ArgAcc* fin = reinterpret_cast<ArgAcc*>(ws);
    ArgAcc* part = fin + nout;
    reduce_into(x, d, ArgAcc{0, -1}, ArgLoad<T>{}, ArgOp{op == ReduceOp::max}, fin, part, st);
    cuda::for_each(nout, [=] __device__(int64_t j) {
      out[j] = T(fin[j].v);
      if (idx) idx[j] = fin[j].i;
    }, s, "leseg::reduce finish");
    return;
  }
  double* fin = reinterpret_cast<double*>(ws);
  double* mean = fin + nout;
  double* part = op == ReduceOp::var ? mean + nout : mean;
  reduce_into(x, d, 0.0, SumLoad<T, Ident<T>>{Ident<T>{}}, SumOp{}, fin, part, st);
  if (op == ReduceOp::sum || op == ReduceOp::mean) {
    const double den = op == ReduceOp::sum ? 1.0 : double(d.r);
    cuda::for_each(nout, [=] __device__(int64_t j) { out[j] = T(fin[j] / den); }, s, "leseg::reduce finish");
    return;
  }
  const double r = double(d.r);
  cuda::for_each(nout, [=] __device__(int64_t j) { mean[j] = fin[j] / r; }, s, "leseg::reduce mean");
  reduce_into(x, d, 0.0, SumLoad<T, SqDev<T>>{SqDev<T>{mean}}, SumOp{}, fin, part, st);
  const double den = double(d.r - correction);
  cuda::for_each(nout, [=] __device__(int64_t j) { out[j] = T(fin[j] / den); }, s, "leseg::reduce finish");
}

template <class T>
void reduce_index_backward_cuda(const T* g, const int64_t* idx, T* gx, ReduceDims d, StreamHandle s) {
  cuda::NvtxRange range("leseg::reduce_index_backward");
  const int64_t R = d.r, I = d.inner;
  cuda::for_each(d.outer * R * I, [=] __device__(int64_t j) { gx[j] = T(0); }, s, "leseg::reduce_index_backward zero");
  cuda::for_each(d.outer * I, [=] __device__(int64_t j) {
    const int64_t o = j / I, i = j % I, k = idx[j];
    if (k >= 0 && k < R) gx[(o * R + k) * I + i] = g[j];
  }, s, "leseg::reduce_index_backward scatter");
}

template void reduce_forward_cuda<float>(ReduceOp, const float*, float*, int64_t*, ReduceDims, int64_t, void*, size_t, StreamHandle);
template void reduce_forward_cuda<double>(ReduceOp, const double*, double*, int64_t*, ReduceDims, int64_t, void*, size_t,
                                          StreamHandle);
template void reduce_index_backward_cuda<float>(const float*, const int64_t*, float*, ReduceDims, StreamHandle);
template void reduce_index_backward_cuda<double>(const double*, const int64_t*, double*, ReduceDims, StreamHandle);

}  // namespace leseg::kernels
