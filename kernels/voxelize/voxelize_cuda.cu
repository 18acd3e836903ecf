// SPDX-License-Identifier: Apache-2.0
// CUDA voxel <-> point transfers (same math as the CPU twin via voxelize_math.h). point_scatter uses float
// atomicAdd (several points share a voxel): sums equal the twin up to rounding order. Deterministic mode uses
// point_scatter_sorted_cuda.cu instead.
#include <climits>
#include <sstream>
#include <stdexcept>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/voxelize/voxelize.h"
#include "kernels/voxelize/voxelize_math.h"

namespace leseg::kernels {

template <class T>
void voxel_coords_cuda(const T* points, const int32_t* batch, int64_t n, double inv_size, int32_t* coords,
                       StreamHandle s) {
  if (n <= 0) return;
  // Out-of-range indices are written as INT_MIN; the caller's coordinate hash insert then rejects the row
  // (INT_MIN is outside [-2^20, 2^20-1]) and names it.
  cuda::for_each(
      n * 4,
      [=] __device__(int64_t t) {
        const int64_t i = t / 4;
        const int d = int(t % 4);
        if (d == 0) {
          coords[t] = batch[i];
          return;
        }
        const int64_t v = vox::voxel_index(double(points[3 * i + d - 1]), inv_size);
        coords[t] = (v >= coord::kCoordMin && v <= coord::kCoordMax) ? int32_t(v) : INT_MIN;
      },
      s, "leseg::voxel_coords");
}

void voxel_counts_cuda(const int32_t* inverse, int64_t n, int64_t m, int32_t* counts, StreamHandle s) {
  LESEG_CUDA_CHECK(cudaMemsetAsync(counts, 0, size_t(m) * 4, cuda::stream_of(s)));
  cuda::for_each(n, [=] __device__(int64_t i) { atomicAdd(&counts[inverse[i]], 1); }, s, "leseg::voxel_counts");
}

template <class T>
void mean_weights_cuda(const int32_t* inverse, const int32_t* counts, int64_t n, T* w, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { w[i] = T(1) / T(counts[inverse[i]]); }, s, "leseg::mean_weights");
}

template <class T>
void trilinear_weights_cuda(const coord::TableView& t, const T* points, const int32_t* batch, int64_t n,
                            double inv_size, int32_t stride, int32_t* idx, T* w, StreamHandle s) {
  cuda::for_each(
      n,
      [=] __device__(int64_t i) {
        vox::trilinear_point(t, points + 3 * i, batch[i], inv_size, stride, idx + 8 * i, w + 8 * i);
      },
      s, "leseg::trilinear_weights");
}

template <class T>
void point_gather_cuda(const T* x, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, T* out,
                       StreamHandle s) {
  cuda::for_each(
      n * C,
      [=] __device__(int64_t t) {
        const int64_t i = t / C, ch = t % C;
        T acc = T(0);
        for (int c = 0; c < corners; ++c) {
          const int32_t j = idx[i * corners + c];
          if (j >= 0) acc += (w ? w[i * corners + c] : T(1)) * x[int64_t(j) * C + ch];
        }
        out[t] = acc;
      },
      s, "leseg::point_gather");
}

template <class T>
void point_scatter_cuda(const T* g, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, int64_t m,
                        T* gx, StreamHandle s) {
  LESEG_CUDA_CHECK(cudaMemsetAsync(gx, 0, size_t(m * C) * sizeof(T), cuda::stream_of(s)));
  cuda::for_each(
      n * C,
      [=] __device__(int64_t t) {
        const int64_t i = t / C, ch = t % C;
        for (int c = 0; c < corners; ++c) {
          const int32_t j = idx[i * corners + c];
          if (j >= 0) atomicAdd(&gx[int64_t(j) * C + ch], (w ? w[i * corners + c] : T(1)) * g[t]);
        }
      },
      s, "leseg::point_scatter");
}

template <class T>
void point_gather_lowp_cuda(const T* x, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C, T* out,
                            StreamHandle s) {
  cuda::for_each(
      n * C, [=] __device__(int64_t t) { out[t] = vox::gather_lowp_one(x, idx, w, t / C, corners, C, t % C); }, s,
      "leseg::point_gather_lowp");
}

template <class T>
void point_scatter_lowp_cuda(const T* g, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C,
                             int64_t m, float* acc, T* gx, StreamHandle s) {
  LESEG_CUDA_CHECK(cudaMemsetAsync(acc, 0, size_t(m * C) * sizeof(float), cuda::stream_of(s)));
  cuda::for_each(
      n * C,
      [=] __device__(int64_t t) {
        const int64_t i = t / C, ch = t % C;
        const float gv = load_acc(g[t]);
        for (int c = 0; c < corners; ++c) {
          const int32_t j = idx[i * corners + c];
          if (j >= 0) atomicAdd(&acc[int64_t(j) * C + ch], __fmul_rn(w ? w[i * corners + c] : 1.f, gv));
        }
      },
      s, "leseg::point_scatter_lowp");
  cuda::for_each(m * C, [=] __device__(int64_t t) { gx[t] = store_acc<T>(acc[t]); }, s, "leseg::point_scatter_lowp_store");
}

#define LESEG_LOWP_INST(T)                                                                                        \
  template void point_gather_lowp_cuda<T>(const T*, const int32_t*, const float*, int64_t, int, int64_t, T*,      \
                                          StreamHandle);                                                          \
  template void point_scatter_lowp_cuda<T>(const T*, const int32_t*, const float*, int64_t, int, int64_t, int64_t, \
                                           float*, T*, StreamHandle);
LESEG_LOWP_INST(::leseg::f16_t)
LESEG_LOWP_INST(::leseg::bf16_t)
#undef LESEG_LOWP_INST

#define LESEG_INST(T)                                                                                               \
  template void voxel_coords_cuda<T>(const T*, const int32_t*, int64_t, double, int32_t*, StreamHandle);           \
  template void mean_weights_cuda<T>(const int32_t*, const int32_t*, int64_t, T*, StreamHandle);                   \
  template void trilinear_weights_cuda<T>(const coord::TableView&, const T*, const int32_t*, int64_t, double,      \
                                          int32_t, int32_t*, T*, StreamHandle);                                    \
  template void point_gather_cuda<T>(const T*, const int32_t*, const T*, int64_t, int, int64_t, T*, StreamHandle); \
  template void point_scatter_cuda<T>(const T*, const int32_t*, const T*, int64_t, int, int64_t, int64_t, T*,      \
                                      StreamHandle);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST

}  // namespace leseg::kernels
