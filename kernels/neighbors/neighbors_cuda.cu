// SPDX-License-Identifier: Apache-2.0
// CUDA queries of the voxel-hash-grid neighbour search: one thread per query running the same
// neighbors_math.h loops as the CPU twin (the grid arrays in `grid` are device pointers).
#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/neighbors/neighbors.h"
#include "kernels/neighbors/neighbors_math.h"

namespace leseg::kernels {

void knn_query_cuda(const float* ref, const GridView& grid, const float* query, int64_t n_query, int k,
                    int32_t* out_idx, float* out_d2, StreamHandle s) {
  LESEG_KCHECK(k >= 1, "knn: k must be >= 1, got ", k);
  GridView g = grid;
  cuda::for_each(n_query, [=] __device__(int64_t q) {
    nbr::knn_one(ref, g, query + 3 * q, k, out_idx + q * int64_t(k), out_d2 + q * int64_t(k));
  }, s, "leseg::knn_query");
}

void radius_count_cuda(const float* ref, const GridView& grid, const float* query, int64_t n_query,
                       float radius, int32_t* counts, StreamHandle s) {
  LESEG_KCHECK(radius >= 0.f, "radius search: radius must be >= 0, got ", radius);
  GridView g = grid;
  cuda::for_each(n_query, [=] __device__(int64_t q) { counts[q] = nbr::radius_count_one(ref, g, query + 3 * q, radius); },
                 s, "leseg::radius_count");
}

void radius_fill_cuda(const float* ref, const GridView& grid, const float* query, int64_t n_query, float radius,
                      const int64_t* offsets, int32_t* out_idx, float* out_d2, StreamHandle s) {
  GridView g = grid;
  cuda::for_each(n_query, [=] __device__(int64_t q) {
    const int64_t b = offsets[q];
    nbr::radius_fill_one(ref, g, query + 3 * q, radius, out_idx + b, out_d2 + b, int32_t(offsets[q + 1] - b));
  }, s, "leseg::radius_fill");
}

}  // namespace leseg::kernels
