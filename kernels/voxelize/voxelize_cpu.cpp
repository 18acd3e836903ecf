// SPDX-License-Identifier: Apache-2.0
// CPU twin of the voxel <-> point transfers.
#include <algorithm>

#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/voxelize/voxelize.h"
#include "kernels/voxelize/voxelize_math.h"

namespace leseg::kernels {

template <class T>
void voxel_coords_cpu(const T* points, const int32_t* batch, int64_t n, double inv_size, int32_t* coords) {
  for (int64_t i = 0; i < n; ++i) {
    coords[4 * i] = batch[i];
    for (int d = 0; d < 3; ++d) {
      const int64_t v = vox::voxel_index(double(points[3 * i + d]), inv_size);
      LESEG_KCHECK(v >= coord::kCoordMin && v <= coord::kCoordMax, "voxelize: point ", i, " axis ", "xyz"[d],
                   " = ", double(points[3 * i + d]), " gives voxel index ", v, " outside [", coord::kCoordMin, ", ",
                   coord::kCoordMax, "]");
      coords[4 * i + 1 + d] = int32_t(v);
    }
  }
}

void voxel_counts_cpu(const int32_t* inverse, int64_t n, int64_t m, int32_t* counts) {
  std::fill(counts, counts + m, 0);
  for (int64_t i = 0; i < n; ++i) ++counts[inverse[i]];
}

template <class T>
void mean_weights_cpu(const int32_t* inverse, const int32_t* counts, int64_t n, T* w) {
  cpu::for_each(n, [&](int64_t i) { w[i] = T(1) / T(counts[inverse[i]]); });
}

template <class T>
void trilinear_weights_cpu(const coord::TableView& t, const T* points, const int32_t* batch, int64_t n,
                           double inv_size, int32_t stride, int32_t* idx, T* w) {
  cpu::for_each(
      n, [&](int64_t i) {
        vox::trilinear_point(t, points + 3 * i, batch[i], inv_size, stride, idx + 8 * i, w + 8 * i);
      },
      1 << 12);
}

template <class T>
void point_gather_cpu(const T* x, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, T* out) {
  cpu::for_each(
      n, [&](int64_t i) {
        T* o = out + i * C;
        std::fill(o, o + C, T(0));
        for (int c = 0; c < corners; ++c) {
          const int32_t j = idx[i * corners + c];
          if (j < 0) continue;
          const T wc = w ? w[i * corners + c] : T(1);
          const T* xr = x + int64_t(j) * C;
          for (int64_t ch = 0; ch < C; ++ch) o[ch] += wc * xr[ch];
        }
      },
      1 << 10);
}

template <class T>
void point_scatter_cpu(const T* g, const int32_t* idx, const T* w, int64_t n, int corners, int64_t C, int64_t m,
                       T* gx) {
  std::fill(gx, gx + m * C, T(0));
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < corners; ++c) {
      const int32_t j = idx[i * corners + c];
      if (j < 0) continue;
      const T wc = w ? w[i * corners + c] : T(1);
      T* d = gx + int64_t(j) * C;
      const T* gr = g + i * C;
      for (int64_t ch = 0; ch < C; ++ch) d[ch] += wc * gr[ch];
    }
}

template <class T>
void point_gather_lowp_cpu(const T* x, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C, T* out) {
  cpu::for_each(
      n, [&](int64_t i) {
        for (int64_t ch = 0; ch < C; ++ch) out[i * C + ch] = vox::gather_lowp_one(x, idx, w, i, corners, C, ch);
      },
      1 << 10);
}

template <class T>
void point_scatter_lowp_cpu(const T* g, const int32_t* idx, const float* w, int64_t n, int corners, int64_t C,
                            int64_t m, float* acc, T* gx) {
  std::fill(acc, acc + m * C, 0.f);
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < corners; ++c) {
      const int32_t j = idx[i * corners + c];
      if (j < 0) continue;
      const float wc = w ? w[i * corners + c] : 1.f;
      float* d = acc + int64_t(j) * C;
      const T* gr = g + i * C;
      for (int64_t ch = 0; ch < C; ++ch) {
        const float p = wc * load_acc(gr[ch]);  // the product rounded to f32, then added (CUDA: atomicAdd(p))
        d[ch] += p;
      }
    }
  cpu::for_each(m * C, [&](int64_t t) { gx[t] = store_acc<T>(acc[t]); }, 1 << 14);
}

#define LESEG_LOWP_INST(T)                                                                                      \
  template void point_gather_lowp_cpu<T>(const T*, const int32_t*, const float*, int64_t, int, int64_t, T*);    \
  template void point_scatter_lowp_cpu<T>(const T*, const int32_t*, const float*, int64_t, int, int64_t, int64_t, \
                                          float*, T*);
LESEG_LOWP_INST(::leseg::f16_t)
LESEG_LOWP_INST(::leseg::bf16_t)
#undef LESEG_LOWP_INST

#define LESEG_INST(T)                                                                                         \
  template void voxel_coords_cpu<T>(const T*, const int32_t*, int64_t, double, int32_t*);                     \
  template void mean_weights_cpu<T>(const int32_t*, const int32_t*, int64_t, T*);                             \
  template void trilinear_weights_cpu<T>(const coord::TableView&, const T*, const int32_t*, int64_t, double,  \
                                         int32_t, int32_t*, T*);                                              \
  template void point_gather_cpu<T>(const T*, const int32_t*, const T*, int64_t, int, int64_t, T*);           \
  template void point_scatter_cpu<T>(const T*, const int32_t*, const T*, int64_t, int, int64_t, int64_t, T*);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST

}  // namespace leseg::kernels
