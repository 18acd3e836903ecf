// SPDX-License-Identifier: Apache-2.0
// CUDA segment reductions and voting (see segment.h for the variants). Sums use atomicAdd in T, max uses
// an atomic max (CAS) followed by an atomicMin over row indices achieving it (ties → first row, so the
// result is deterministic and equals the CPU twin). Voting variants both end in a packed atomicMax per group
// (segment_math.h), so ties break to the smallest class exactly as on the CPU.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_select.cuh>
#include <cuda/std/functional>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/device_error/device_error.h"
#include "kernels/segment/segment.h"
#include "kernels/segment/segment_math.h"

namespace leseg::kernels {
namespace {
using ull = unsigned long long;

__device__ inline void atomic_max_t(float* a, float v) {
  int* ai = reinterpret_cast<int*>(a);
  int old = *ai;
  while (__int_as_float(old) < v) {
    const int prev = atomicCAS(ai, old, __float_as_int(v));
    if (prev == old) break;
    old = prev;
  }
}
__device__ inline void atomic_max_t(double* a, double v) {
  ull* ai = reinterpret_cast<ull*>(a);
  ull old = *ai;
  while (__longlong_as_double(static_cast<long long>(old)) < v) {
    const ull prev = atomicCAS(ai, old, static_cast<ull>(__double_as_longlong(v)));
    if (prev == old) break;
    old = prev;
  }
}

size_t align_up(size_t n) { return (n + 255) & ~size_t(255); }

int bits_for(uint64_t v) {
  int b = 1;
  while (b < 64 && (uint64_t(1) << b) <= v) ++b;
  return b;
}

// Shared-memory histogram: each block accumulates its grid-stride slice into smem, then flushes.
__global__ void vote_hist_kernel(const int64_t* group, const int64_t* label, const float* weight, int64_t N,
                                 int64_t G, int64_t C, int64_t ignore, double* hist) {
  extern __shared__ double sh[];
  const int64_t bins = G * C;
  for (int64_t j = threadIdx.x; j < bins; j += blockDim.x) sh[j] = 0.0;
  __syncthreads();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < N; i += int64_t(gridDim.x) * blockDim.x) {
    const double w = weight ? double(weight[i]) : 1.0;
    if (segment::vote_valid(group[i], label[i], G, C, ignore, w)) atomicAdd(&sh[group[i] * C + label[i]], w);
  }
  __syncthreads();
  for (int64_t j = threadIdx.x; j < bins; j += blockDim.x)
    if (sh[j] != 0.0) atomicAdd(&hist[j], sh[j]);
}

struct SortWs {
  ull *keys_in, *keys_out, *uniq, *best;
  double *vals_in, *vals_out, *agg;
  int64_t* num_runs;
  void* temp;
  size_t temp_bytes, total;
};

SortWs sort_layout(void* base, int64_t N, int64_t G, int64_t C) {
  SortWs w{};
  const int end_bit = bits_for(uint64_t(G * C));
  size_t sort_tmp = 0, rbk_tmp = 0;
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_tmp, (const ull*)nullptr, (ull*)nullptr,
                                                   (const double*)nullptr, (double*)nullptr, N, 0, end_bit));
  LESEG_CUDA_CHECK(cub::DeviceReduce::ReduceByKey(nullptr, rbk_tmp, (const ull*)nullptr, (ull*)nullptr,
                                                  (const double*)nullptr, (double*)nullptr, (int64_t*)nullptr,
                                                  ::cuda::std::plus<double>(), N));
  char* p = static_cast<char*>(base);
  size_t off = 0;
  auto take = [&](size_t bytes) {
    char* r = p ? p + off : nullptr;
    off += align_up(bytes);
    return r;
  };
  const size_t n8 = size_t(N) * 8;
  w.keys_in = (ull*)take(n8);
  w.keys_out = (ull*)take(n8);
  w.uniq = (ull*)take(n8);
  w.vals_in = (double*)take(n8);
  w.vals_out = (double*)take(n8);
  w.agg = (double*)take(n8);
  w.num_runs = (int64_t*)take(8);
  w.best = (ull*)take(size_t(G) * 8);
  w.temp_bytes = std::max(sort_tmp, rbk_tmp);
  w.temp = take(w.temp_bytes);
  w.total = off;
  return w;
}
}  // namespace

void segment_count_cuda(const int64_t* group, int64_t N, int64_t G, int64_t* count, StreamHandle s) {
  check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
  LESEG_CUDA_CHECK(cudaMemsetAsync(count, 0, size_t(G) * 8, cuda::stream_of(s)));
  cuda::for_each(
      N,
      [=] __device__(int64_t i) {
        const int64_t g = group[i];
        if (g >= 0 && g < G) atomicAdd(reinterpret_cast<ull*>(count + g), ull(1));
      },
      s, "leseg::segment_count");
}

template <class T>
void segment_sum_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, StreamHandle s) {
  check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
  LESEG_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(G * C) * sizeof(T), cuda::stream_of(s)));
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const int64_t g = group[j / C];
        if (g >= 0 && g < G) atomicAdd(out + g * C + j % C, x[j]);
      },
      s, "leseg::segment_sum");
}

template <class T>
void segment_mean_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, int64_t* count,
                       StreamHandle s) {
  segment_count_cuda(group, N, G, count, s);
  segment_sum_cuda(x, group, N, C, G, out, s);
  cuda::for_each(
      G * C,
      [=] __device__(int64_t j) {
        const int64_t n = count[j / C];
        out[j] = n == 0 ? T(0) : T(out[j] / T(n));
      },
      s, "leseg::segment_mean_div");
}

template <class T>
void segment_mean_backward_cuda(const T* dout, const int64_t* group, const int64_t* count, int64_t N, int64_t C,
                                int64_t G, T* dx, StreamHandle s) {
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const int64_t g = group[j / C];
        dx[j] = (g < 0 || g >= G) ? T(0) : T(dout[g * C + j % C] / T(count[g]));
      },
      s, "leseg::segment_mean_backward");
}

template <class T>
void segment_max_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, int64_t* arg,
                      StreamHandle s) {
  cuda::NvtxRange r("leseg::segment_max");
  check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
  cuda::for_each(
      G * C, [=] __device__(int64_t j) { out[j] = T(-INFINITY); arg[j] = -1; }, s, "leseg::segment_max_init");
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const int64_t g = group[j / C];
        if (g >= 0 && g < G) atomic_max_t(out + g * C + j % C, x[j]);
      },
      s, "leseg::segment_max_value");
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const int64_t g = group[j / C];
        if (g >= 0 && g < G && x[j] == out[g * C + j % C])
          atomicMin(reinterpret_cast<ull*>(arg + g * C + j % C), ull(j / C));
      },
      s, "leseg::segment_max_arg");
  cuda::for_each(
      G * C, [=] __device__(int64_t j) { if (arg[j] < 0) out[j] = T(0); }, s, "leseg::segment_max_empty");
}

template <class T>
void segment_max_backward_cuda(const T* dout, const int64_t* arg, int64_t N, int64_t C, int64_t G, T* dx,
                               StreamHandle s) {
  LESEG_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(N * C) * sizeof(T), cuda::stream_of(s)));
  cuda::for_each(
      G * C, [=] __device__(int64_t j) { if (arg[j] >= 0) dx[arg[j] * C + j % C] = dout[j]; }, s,
      "leseg::segment_max_backward");
}

template <class T>
void segment_gather_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, StreamHandle s) {
  check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
  cuda::for_each(
      N * C,
      [=] __device__(int64_t j) {
        const int64_t g = group[j / C];
        out[j] = (g < 0 || g >= G) ? T(0) : x[g * C + j % C];
      },
      s, "leseg::segment_gather");
}

size_t vote_mode_workspace_bytes(VoteVariant v, int64_t N, int64_t G, int64_t C) {
  if (v == VoteVariant::SharedHistogram) return align_up(size_t(G * C) * 8);
  return sort_layout(nullptr, N, G, C).total;
}

void vote_mode_cuda(VoteVariant v, const int64_t* group, const int64_t* label, const float* weight, int64_t N,
                    int64_t G, int64_t C, int64_t ignore, void* ws, size_t ws_bytes, int64_t* mode,
                    int64_t* point_mode, StreamHandle s) {
  cuda::NvtxRange range(v == VoteVariant::SharedHistogram ? "leseg::vote_mode_shared_histogram"
                                                          : "leseg::vote_mode_sort_reduce");
  LESEG_KCHECK(ws_bytes >= vote_mode_workspace_bytes(v, N, G, C), "vote_mode: workspace of ", ws_bytes,
               " bytes is smaller than vote_mode_workspace_bytes = ", vote_mode_workspace_bytes(v, N, G, C));
  check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::VoteGroup, s);
  check_ids_cuda(label, N, 0, C, ignore, DeviceErrorCode::VoteLabel, s);
  cudaStream_t st = cuda::stream_of(s);
  if (v == VoteVariant::SharedHistogram) {
    const size_t smem = size_t(G * C) * 8;
    LESEG_KCHECK(smem <= kVoteSharedBytes, "vote_mode(shared_histogram): G·C = ", G * C, " bins need ", smem,
                 " bytes of shared memory (> ", kVoteSharedBytes, "); use VoteVariant::SortReduce");
    double* hist = static_cast<double*>(ws);
    LESEG_CUDA_CHECK(cudaMemsetAsync(hist, 0, smem, st));
    if (N > 0) {
      vote_hist_kernel<<<cuda::grid_for(N, 256, 1024), 256, smem, st>>>(group, label, weight, N, G, C, ignore, hist);
      LESEG_CUDA_CHECK_LAUNCH("leseg::vote_hist_kernel");
    }
    cuda::for_each(
        G,
        [=] __device__(int64_t g) {
          ull best = 0;
          for (int64_t c = 0; c < C; ++c) {
            const double h = hist[g * C + c];
            if (h > 0.0) best = max(best, ull(segment::vote_pack(h, c)));
          }
          mode[g] = segment::vote_unpack(best, ignore);
        },
        s, "leseg::vote_mode_pick");
  } else {
    SortWs w = sort_layout(ws, N, G, C);
    const int end_bit = bits_for(uint64_t(G * C));
    const ull sentinel = ull(G * C);
    LESEG_CUDA_CHECK(cudaMemsetAsync(w.best, 0, size_t(G) * 8, st));
    if (N > 0) {
      cuda::for_each(
          N,
          [=] __device__(int64_t i) {
            const double wt = weight ? double(weight[i]) : 1.0;
            const bool ok = segment::vote_valid(group[i], label[i], G, C, ignore, wt);
            w.keys_in[i] = ok ? ull(group[i] * C + label[i]) : sentinel;
            w.vals_in[i] = ok ? wt : 0.0;
          },
          s, "leseg::vote_mode_keys");
      size_t tb = w.temp_bytes;
      LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(w.temp, tb, (const ull*)w.keys_in, w.keys_out,
                                                       (const double*)w.vals_in, w.vals_out, N, 0, end_bit, st));
      tb = w.temp_bytes;
      LESEG_CUDA_CHECK(cub::DeviceReduce::ReduceByKey(w.temp, tb, (const ull*)w.keys_out, w.uniq,
                                                      (const double*)w.vals_out, w.agg, w.num_runs,
                                                      ::cuda::std::plus<double>(), N, st));
      cuda::for_each(
          N,
          [=] __device__(int64_t r) {
            if (r >= *w.num_runs) return;
            const ull key = w.uniq[r];
            if (key >= sentinel || !(w.agg[r] > 0.0)) return;
            atomicMax(w.best + key / ull(C), ull(segment::vote_pack(w.agg[r], int64_t(key % ull(C)))));
          },
          s, "leseg::vote_mode_runs");
    }
    cuda::for_each(
        G, [=] __device__(int64_t g) { mode[g] = segment::vote_unpack(w.best[g], ignore); }, s,
        "leseg::vote_mode_pick");
  }
  if (point_mode)
    cuda::for_each(
        N,
        [=] __device__(int64_t i) {
          const int64_t g = group[i];
          point_mode[i] = (g < 0 || g >= G) ? ignore : mode[g];
        },
        s, "leseg::vote_mode_broadcast");
}

size_t segment_compact_workspace_bytes(int64_t N) {
  size_t sort_tmp = 0, uniq_tmp = 0;
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, sort_tmp, (const int64_t*)nullptr, (int64_t*)nullptr, N));
  LESEG_CUDA_CHECK(cub::DeviceSelect::Unique(nullptr, uniq_tmp, (const int64_t*)nullptr, (int64_t*)nullptr,
                                             (int64_t*)nullptr, N));
  return align_up(size_t(N) * 8) + align_up(std::max(sort_tmp, uniq_tmp));
}

void segment_compact_cuda(const int64_t* ids, int64_t N, void* ws, size_t ws_bytes, int64_t* compact, int64_t* unique,
                          int64_t* num_unique, StreamHandle s) {
  cuda::NvtxRange range("leseg::segment_compact");
  const size_t need = segment_compact_workspace_bytes(N);
  LESEG_KCHECK(ws_bytes >= need, "segment_compact: workspace of ", ws_bytes, " bytes < ", need);
  cudaStream_t st = cuda::stream_of(s);
  LESEG_CUDA_CHECK(cudaMemsetAsync(num_unique, 0, 8, st));
  if (N == 0) return;
  int64_t* sorted = static_cast<int64_t*>(ws);
  void* temp = static_cast<char*>(ws) + align_up(size_t(N) * 8);
  size_t tb = need - align_up(size_t(N) * 8);
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(temp, tb, ids, sorted, N, 0, 64, st));
  tb = need - align_up(size_t(N) * 8);
  LESEG_CUDA_CHECK(cub::DeviceSelect::Unique(temp, tb, (const int64_t*)sorted, unique, num_unique, N, st));
  cuda::for_each(
      N,
      [=] __device__(int64_t i) {
        const int64_t v = ids[i];
        int64_t lo = 0, hi = *num_unique;
        while (lo < hi) {
          const int64_t mid = (lo + hi) / 2;
          if (unique[mid] < v) lo = mid + 1; else hi = mid;
        }
        compact[i] = lo;
      },
      s, "leseg::segment_compact_search");
}

#define X(T)                                                                                                       \
  template void segment_sum_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, StreamHandle);        \
  template void segment_mean_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, int64_t*,            \
                                     StreamHandle);                                                                \
  template void segment_mean_backward_cuda<T>(const T*, const int64_t*, const int64_t*, int64_t, int64_t, int64_t, \
                                              T*, StreamHandle);                                                   \
  template void segment_max_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, int64_t*,             \
                                    StreamHandle);                                                                 \
  template void segment_max_backward_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, StreamHandle); \
  template void segment_gather_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
