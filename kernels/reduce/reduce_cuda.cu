// SPDX-License-Identifier: Apache-2.0
// CUDA reductions, matching the CPU twin within rounding (double accumulation, fixed order, no atomics).
//   inner == 1: stage 1, grid (chunks, rows): block (c, o) reduces x[o, c*kReduceChunkCuda ...) with a
//               fixed shared-memory tree; stage 2 (only when a row has > 1 chunk): one block per row
//               reduces the chunk partials with the same tree.
//   inner > 1:  one thread per output (o, i), serial over k (adjacent threads read adjacent addresses).
// Everything accumulates into a double (or ArgAcc) buffer `fin` in the workspace; a last kernel converts
// to T (dividing by r for mean, r - correction for var). var runs the sum twice: mean, then (x - mean)².
// Workspace layout: [fin: nout][mean: nout (var only)][partials: outer * chunks (inner == 1, chunks > 1)].
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

template <class T, class Tf>
__global__ void sum_chunks_kernel(const T* x, int64_t outer, int64_t R, int64_t nch, Tf tf, double* dst) {
  const int64_t c = blockIdx.x;
  const int64_t k0 = c * kReduceChunkCuda, k1 = min(k0 + kReduceChunkCuda, R);
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    double acc = 0;
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) acc += tf(x[o * R + k], o);
    double s = block_reduce(acc, SumOp{});
    if (threadIdx.x == 0) dst[o * nch + c] = s;
  }
}
template <class T>
__global__ void arg_chunks_kernel(const T* x, int64_t outer, int64_t R, int64_t nch, bool is_max, ArgAcc* dst) {
  const int64_t c = blockIdx.x;
  const int64_t k0 = c * kReduceChunkCuda, k1 = min(k0 + kReduceChunkCuda, R);
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    ArgAcc acc{0, -1};
    for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) acc = arg_combine(acc, ArgAcc{double(x[o * R + k]), k}, is_max);
    ArgAcc s = block_reduce(acc, ArgOp{is_max});
    if (threadIdx.x == 0) dst[o * nch + c] = s;
  }
}
template <class Acc, class Comb>
__global__ void combine_partials_kernel(const Acc* part, int64_t outer, int64_t nch, Acc identity, Comb comb, Acc* fin) {
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    Acc acc = identity;
    for (int64_t c = threadIdx.x; c < nch; c += blockDim.x) acc = comb(acc, part[o * nch + c]);
    Acc s = block_reduce(acc, comb);
    if (threadIdx.x == 0) fin[o] = s;
  }
}
template <class T, class Tf>
__global__ void sum_inner_kernel(const T* x, int64_t outer, int64_t R, int64_t I, Tf tf, double* fin) {
  const int64_t n = outer * I;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = j / I, i = j % I;
    double acc = 0;
    for (int64_t k = 0; k < R; ++k) acc += tf(x[(o * R + k) * I + i], j);
    fin[j] = acc;
  }
}
template <class T>
__global__ void arg_inner_kernel(const T* x, int64_t outer, int64_t R, int64_t I, bool is_max, ArgAcc* fin) {
  const int64_t n = outer * I;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = j / I, i = j % I;
    ArgAcc acc{0, -1};
    for (int64_t k = 0; k < R; ++k) acc = arg_combine(acc, ArgAcc{double(x[(o * R + k) * I + i]), k}, is_max);
    fin[j] = acc;
  }
}

int64_t num_chunks(const ReduceDims& d) { return d.inner == 1 ? (d.r + kReduceChunkCuda - 1) / kReduceChunkCuda : 0; }
unsigned rows_grid(int64_t outer) { return unsigned(outer < 65535 ? (outer < 1 ? 1 : outer) : 65535); }

// fin[j] = Σ_k tf(x[o, k, i], j)   (j = o * inner + i)
template <class T, class Tf>
void sum_into(const T* x, const ReduceDims& d, Tf tf, double* fin, double* part, cudaStream_t st) {
  const int64_t nout = d.outer * d.inner;
  if (d.inner > 1 || d.r == 0) {
    sum_inner_kernel<<<cuda::grid_for(nout, kReduceThreads), kReduceThreads, 0, st>>>(x, d.outer, d.r, d.inner, tf, fin);
    LESEG_CUDA_CHECK_LAUNCH("leseg::reduce sum_inner");
    return;
  }
  const int64_t nch = num_chunks(d);
  dim3 grid(unsigned(nch), rows_grid(d.outer));
  sum_chunks_kernel<<<grid, kReduceThreads, 0, st>>>(x, d.outer, d.r, nch, tf, nch > 1 ? part : fin);
  LESEG_CUDA_CHECK_LAUNCH("leseg::reduce sum_chunks");
  if (nch > 1) {
    combine_partials_kernel<<<rows_grid(d.outer), kReduceThreads, 0, st>>>(part, d.outer, nch, 0.0, SumOp{}, fin);
    LESEG_CUDA_CHECK_LAUNCH("leseg::reduce combine");
  }
}

template <class T>
void arg_into(const T* x, const ReduceDims& d, bool is_max, ArgAcc* fin, ArgAcc* part, cudaStream_t st) {
  const int64_t nout = d.outer * d.inner;
  if (d.inner > 1) {
    arg_inner_kernel<<<cuda::grid_for(nout, kReduceThreads), kReduceThreads, 0, st>>>(x, d.outer, d.r, d.inner, is_max, fin);
    LESEG_CUDA_CHECK_LAUNCH("leseg::reduce arg_inner");
    return;
  }
  const int64_t nch = num_chunks(d);
  dim3 grid(unsigned(nch), rows_grid(d.outer));
  arg_chunks_kernel<<<grid, kReduceThreads, 0, st>>>(x, d.outer, d.r, nch, is_max, nch > 1 ? part : fin);
  LESEG_CUDA_CHECK_LAUNCH("leseg::reduce arg_chunks");
  if (nch > 1) {
    combine_partials_kernel<<<rows_grid(d.outer), kReduceThreads, 0, st>>>(part, d.outer, nch, ArgAcc{0, -1},
                                                                          ArgOp{is_max}, fin);
    LESEG_CUDA_CHECK_LAUNCH("leseg::reduce combine");
  }
}

}  // namespace

size_t reduce_workspace_bytes_cuda(ReduceOp op, ReduceDims d) {
  const size_t nout = size_t(d.outer * d.inner);
  const size_t acc = (op == ReduceOp::max || op == ReduceOp::min) ? sizeof(ArgAcc) : sizeof(double);
  const int64_t nch = num_chunks(d);
  size_t bytes = nout * acc;
  if (op == ReduceOp::var) bytes += nout * sizeof(double);
  if (nch > 1) bytes += size_t(d.outer) * size_t(nch) * acc;
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
    arg_into(x, d, op == ReduceOp::max, fin, part, st);
    cuda::for_each(nout, [=] __device__(int64_t j) {
      out[j] = T(fin[j].v);
      if (idx) idx[j] = fin[j].i;
    }, s, "leseg::reduce finish");
    return;
  }
  double* fin = reinterpret_cast<double*>(ws);
  double* mean = fin + nout;
  double* part = op == ReduceOp::var ? mean + nout : mean;
  sum_into(x, d, Ident<T>{}, fin, part, st);
  if (op == ReduceOp::sum || op == ReduceOp::mean) {
    const double den = op == ReduceOp::sum ? 1.0 : double(d.r);
    cuda::for_each(nout, [=] __device__(int64_t j) { out[j] = T(fin[j] / den); }, s, "leseg::reduce finish");
    return;
  }
  const double r = double(d.r);
  cuda::for_each(nout, [=] __device__(int64_t j) { mean[j] = fin[j] / r; }, s, "leseg::reduce mean");
  sum_into(x, d, SqDev<T>{mean}, fin, part, st);
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
