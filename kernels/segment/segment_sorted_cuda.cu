// SPDX-License-Identifier: Apache-2.0
#include <cub/device/device_radix_sort.cuh>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/device_error/device_error.h"
#include "kernels/segment/segment_sorted.h"

namespace leseg::kernels {
namespace {
using ull = unsigned long long;

size_t align_up(size_t b) { return (b + 255) / 256 * 256; }

struct Ws {
  ull *keys_in, *keys_out;
  int64_t *pos_in, *pos_out, *row_ptr;
  void* temp;
  size_t temp_bytes, total;
};

Ws layout(void* base, int64_t N, int64_t G) {
  Ws w{};
  size_t tmp = 0;
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tmp, (const ull*)nullptr, (ull*)nullptr,
                                                   (const int64_t*)nullptr, (int64_t*)nullptr, N, 0,
                                                   segment_sort_bits(G)));
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
  w.pos_in = (int64_t*)take(n8);
  w.pos_out = (int64_t*)take(n8);
  w.row_ptr = (int64_t*)take(size_t(G + 1) * 8);
  w.temp_bytes = tmp;
  w.temp = take(tmp);
  w.total = off;
  return w;
}

// Sorts and finds the runs: row_ptr[g] = start of group g's run (row_ptr[G] = end of the valid elements).
Ws sort_runs(const int64_t* group, int64_t N, int64_t G, void* ws, size_t ws_bytes, StreamHandle s) {
  Ws w = layout(ws, N, G);
  LESEG_KCHECK(ws_bytes >= w.total, "segment (sorted): workspace of ", ws_bytes, " bytes is smaller than ", w.total);
  check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
  ull* ki = w.keys_in;
  int64_t* pi = w.pos_in;
  cuda::for_each(
      N,
      [=] __device__(int64_t i) {
        ki[i] = segment_sort_key(group[i], G);
        pi[i] = i;
      },
      s, "leseg::segment_sorted_keys");
  size_t tb = w.temp_bytes;
  // LSD radix sort: stable, so every run keeps increasing positions.
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(w.temp, tb, (const ull*)w.keys_in, w.keys_out,
                                                   (const int64_t*)w.pos_in, w.pos_out, N, 0, segment_sort_bits(G),
                                                   cuda::stream_of(s)));
  const ull* ko = w.keys_out;
  int64_t* rp = w.row_ptr;
  cuda::for_each(
      G + 1, [=] __device__(int64_t g) { rp[g] = sorted_lower_bound(reinterpret_cast<const uint64_t*>(ko), N, uint64_t(g)); }, s,
      "leseg::segment_sorted_runs");
  return w;
}
}  // namespace

size_t segment_sorted_cuda_workspace_bytes(int64_t N, int64_t G) { return layout(nullptr, N, G).total; }

void segment_csr_cuda(const int64_t* group, int64_t N, int64_t G, void* ws, size_t ws_bytes, const int64_t** order,
                      const int64_t** row_ptr, StreamHandle s) {
  LESEG_KCHECK(N > 0 && G > 0, "segment_csr: N = ", N, ", G = ", G, " (both must be > 0)");
  Ws w = sort_runs(group, N, G, ws, ws_bytes, s);
  *order = w.pos_out;
  *row_ptr = w.row_ptr;
}

template <class T>
void segment_sum_sorted_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out, void* ws,
                             size_t ws_bytes, StreamHandle s) {
  if (G * C == 0) {  // nothing to sum, but an id outside [0, G) is still the CPU twin's error
    check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
    return;
  }
  if (N == 0) {
    LESEG_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(G * C) * sizeof(T), cuda::stream_of(s)));
    return;
  }
  Ws w = sort_runs(group, N, G, ws, ws_bytes, s);
  const int64_t* rp = w.row_ptr;
  const int64_t* pos = w.pos_out;
  cuda::for_each(
      G * C,
      [=] __device__(int64_t j) {
        const int64_t g = j / C, c = j % C;
        double acc = 0.0;
        for (int64_t p = rp[g]; p < rp[g + 1]; ++p) acc += double(x[pos[p] * C + c]);
        out[j] = T(acc);
      },
      s, "leseg::segment_sum_sorted");
}

template <class T>
void segment_mean_sorted_cuda(const T* x, const int64_t* group, int64_t N, int64_t C, int64_t G, T* out,
                              int64_t* count, void* ws, size_t ws_bytes, StreamHandle s) {
  if (G == 0) {  // every id is out of range: the CPU twin's error
    check_ids_cuda(group, N, INT64_MIN, G, -1, DeviceErrorCode::SegmentGroup, s);
    return;
  }
  if (N == 0) {
    LESEG_CUDA_CHECK(cudaMemsetAsync(count, 0, size_t(G) * 8, cuda::stream_of(s)));
    if (C > 0) LESEG_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(G * C) * sizeof(T), cuda::stream_of(s)));
    return;
  }
  Ws w = sort_runs(group, N, G, ws, ws_bytes, s);
  const int64_t* rp = w.row_ptr;
  const int64_t* pos = w.pos_out;
  cuda::for_each(G, [=] __device__(int64_t g) { count[g] = rp[g + 1] - rp[g]; }, s, "leseg::segment_count_sorted");
  if (C == 0) return;
  cuda::for_each(
      G * C,
      [=] __device__(int64_t j) {
        const int64_t g = j / C, c = j % C;
        double acc = 0.0;
        for (int64_t p = rp[g]; p < rp[g + 1]; ++p) acc += double(x[pos[p] * C + c]);
        const int64_t n = rp[g + 1] - rp[g];
        // segment_mean_cpu divides the double sum: T(ws / n).
        out[j] = n == 0 ? T(0) : T(acc / double(n));
      },
      s, "leseg::segment_mean_sorted");
}

#define X(T)                                                                                                        \
  template void segment_sum_sorted_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, void*, size_t, \
                                           StreamHandle);                                                          \
  template void segment_mean_sorted_cuda<T>(const T*, const int64_t*, int64_t, int64_t, int64_t, T*, int64_t*,     \
                                            void*, size_t, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
