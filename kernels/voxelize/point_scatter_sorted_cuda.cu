// SPDX-License-Identifier: Apache-2.0
// Deterministic point_scatter (see point_scatter_sorted.h). Workspace: keys and positions in and out of the radix
// sort (4 bytes each per entry), the run starts (m + 1 int64), cub's temporary storage.
#include <cub/device/device_radix_sort.cuh>

#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/voxelize/point_scatter_sorted.h"

namespace leseg::kernels {
namespace {
namespace ss = scatter_sorted;

size_t align_up(size_t b) { return (b + 255) / 256 * 256; }

struct Ws {
  uint32_t *keys_in, *keys_out;
  int32_t *pos_in, *pos_out;
  int64_t* run;
  void* temp;
  size_t temp_bytes, total;
};

Ws layout(void* base, int64_t E, int64_t m) {
  Ws w{};
  size_t tmp = 0;
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tmp, (const uint32_t*)nullptr, (uint32_t*)nullptr,
                                                   (const int32_t*)nullptr, (int32_t*)nullptr, int(E), 0,
                                                   ss::key_bits(m)));
  char* p = static_cast<char*>(base);
  size_t off = 0;
  auto take = [&](size_t bytes) {
    char* r = p ? p + off : nullptr;
    off += align_up(bytes);
    return r;
  };
  const size_t e4 = size_t(E) * 4;
  w.keys_in = (uint32_t*)take(e4);
  w.keys_out = (uint32_t*)take(e4);
  w.pos_in = (int32_t*)take(e4);
  w.pos_out = (int32_t*)take(e4);
  w.run = (int64_t*)take(size_t(m + 1) * 8);
  w.temp_bytes = tmp;
  w.temp = take(tmp);
  w.total = off;
  return w;
}

void check_sizes(int64_t n, int corners, int64_t m) {
  LESEG_KCHECK(corners >= 1, "point_scatter (sorted): corners = ", corners);
  LESEG_KCHECK(n >= 0 && n * corners < (int64_t(1) << 31), "point_scatter (sorted): n·corners = ", n * corners,
               " entries, the deterministic path sorts at most 2^31 - 1");
  LESEG_KCHECK(m >= 0 && m < (int64_t(1) << 31), "point_scatter (sorted): m = ", m, " voxels, at most 2^31 - 1");
}
}  // namespace

size_t point_scatter_sorted_workspace_bytes(int64_t n, int corners, int64_t m) {
  check_sizes(n, corners, m);
  return layout(nullptr, n * corners, m).total;
}

namespace {
// Keys, the stable sort by voxel and the run starts of n·corners > 0 entries: on return wsl.pos_out holds the
// entries in run order and wsl.run the m + 1 run starts.
void sort_runs(const int32_t* idx, int64_t n, int corners, int64_t m, void* ws, size_t ws_bytes, Ws& wsl,
               StreamHandle s) {
  const int64_t E = n * corners;
  wsl = layout(ws, E, m);
  LESEG_KCHECK(ws_bytes >= wsl.total, "point_scatter (sorted): workspace of ", ws_bytes, " bytes is smaller than ",
               wsl.total);
  uint32_t* ki = wsl.keys_in;
  int32_t* pi = wsl.pos_in;
  cuda::for_each(
      E,
      [=] __device__(int64_t e) {
        ki[e] = ss::key(idx[e], m);
        pi[e] = int32_t(e);
      },
      s, "leseg::point_scatter_sorted_keys");
  size_t tb = wsl.temp_bytes;
  // LSD radix sort: stable, so every voxel's run keeps increasing entries (the twin's order).
  LESEG_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(wsl.temp, tb, (const uint32_t*)wsl.keys_in, wsl.keys_out,
                                                   (const int32_t*)wsl.pos_in, wsl.pos_out, int(E), 0,
                                                   ss::key_bits(m), cuda::stream_of(s)));
  const uint32_t* ko = wsl.keys_out;
  int64_t* run = wsl.run;
  cuda::for_each(m + 1, [=] __device__(int64_t j) { run[j] = ss::lower_bound(ko, E, uint32_t(j)); }, s,
                 "leseg::point_scatter_sorted_runs");
}

// One output element: run_sum (f32/f64) or run_sum_lowp (half features, f32 weights).
template <bool Lowp>
struct RunSum {
  template <class T>
  static LESEG_HD T at(const int32_t* pos, int64_t b, int64_t e, const T* g, const T* w, int corners, int64_t C,
                       int64_t ch) {
    return ss::run_sum<T>(pos, b, e, g, w, corners, C, ch);
  }
};
template <>
struct RunSum<true> {
  template <class T>
  static LESEG_HD T at(const int32_t* pos, int64_t b, int64_t e, const T* g, const float* w, int corners, int64_t C,
                       int64_t ch) {
    return ss::run_sum_lowp<T>(pos, b, e, g, w, corners, C, ch);
  }
};

// Both public entry points: features T, weights W (T for f32/f64; f32 for half features, Lowp: f32 accumulation and
// one rounding at the store).
template <bool Lowp, class T, class W>
void sorted_scatter(const T* g, const int32_t* idx, const W* w, int64_t n, int corners, int64_t C, int64_t m, T* gx,
                    void* ws, size_t ws_bytes, StreamHandle s) {
  check_sizes(n, corners, m);
  if (m * C == 0) return;
  if (n * corners == 0) {  // all-zero bits are +0 in every feature type
    LESEG_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(m * C) * sizeof(T), cuda::stream_of(s)));
    return;
  }
  const char* name = Lowp ? "leseg::point_scatter_lowp_sorted" : "leseg::point_scatter_sorted";
  cuda::NvtxRange r(name);
  Ws wsl{};
  sort_runs(idx, n, corners, m, ws, ws_bytes, wsl, s);
  const int32_t* pos = wsl.pos_out;
  const int64_t* run = wsl.run;
  cuda::for_each(
      m * C,
      [=] __device__(int64_t t) {
        const int64_t j = t / C;
        gx[t] = RunSum<Lowp>::template at<T>(pos, run[j], run[j + 1], g, w, corners, C, t % C);
      },
      s, name);
}
}  // namespace

template <class T>
void point_scatter_sorted_cuda(const T* g, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C,
                               int64_t m, T* gx, void* ws, size_t ws_bytes, StreamHandle s) {
  sorted_scatter<false>(g, idx, w, n, corners, C, m, gx, ws, ws_bytes, s);
}

template <class T>
void point_scatter_lowp_sorted_cuda(const T* g, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C,
                                    int64_t m, T* gx, void* ws, size_t ws_bytes, StreamHandle s) {
  sorted_scatter<true>(g, idx, w, n, corners, C, m, gx, ws, ws_bytes, s);
}

#define X(T)                                                                                                       \
  template void point_scatter_sorted_cuda<T>(const T*, const int32_t*, const T*, int64_t, int, int64_t, int64_t, \
                                             T*, void*, size_t, StreamHandle);
X(float)
X(double)
#undef X
#define X(T)                                                                                                     \
  template void point_scatter_lowp_sorted_cuda<T>(const T*, const int32_t*, const float*, int64_t, int, int64_t, \
                                                  int64_t, T*, void*, size_t, StreamHandle);
X(::leseg::f16_t)
X(::leseg::bf16_t)
#undef X

}  // namespace leseg::kernels
