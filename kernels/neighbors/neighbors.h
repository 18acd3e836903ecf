// SPDX-License-Identifier: Apache-2.0
// neighbors: exact k-nearest-neighbour and fixed-radius search over a voxel hash grid.
// defines: neighbors_grid_capacity, neighbors_grid_build_cpu, knn_query_cpu/_cuda,
//          radius_count_cpu/_cuda, radius_fill_cpu/_cuda          (f32 coordinates, i32 point indices)
//
// Grid (built on the host, O(N), no allocation; the engine wrapper uploads it for CUDA queries):
//   every reference point p goes to cell c = floor(p / cell); occupied cells live in an open-addressing
//   hash table of `capacity` slots (power of two): keys (capacity,) u64 packed cell (kEmptyKey = free),
//   start (capacity,) i64 and count (capacity,) i32 into sorted_idx (N,) i32, the reference indices
//   grouped by cell and ascending inside a cell. params: cell size and the occupied cell bounding box.
// Queries (no gradient: outputs are indices and distances of a discrete search):
//   knn:    query (Q, 3) -> idx (Q, k) i32, d2 (Q, k) f32 squared distances; rows sorted by (d2, idx);
//           when k > N the tail is padded with idx -1 and d2 +inf. Cells are visited in Chebyshev rings
//           around the query's cell until the k-th distance is below the distance to the unvisited shell.
//   radius: count (Q,) i32 of reference points with d2 <= r^2; then, given offsets (Q+1,) i64 (exclusive
//           prefix sum of count), fill idx/d2 (offsets[Q],) with each query's neighbours sorted by (d2, idx).
// Distances are computed by neighbors_math.h::dist2 in double and rounded to f32 once, so CPU and CUDA
// return identical values and identical orders (ties broken by the smaller index).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

struct GridParams {
  float cell = 0.f;
  int32_t lo[3] = {0, 0, 0};  // occupied cell bounding box (inclusive)
  int32_t hi[3] = {-1, -1, -1};
};

// Pointers are host pointers for CPU queries and device pointers for CUDA queries; params by value.
struct GridView {
  const uint64_t* keys = nullptr;    // (capacity,)
  const int64_t* start = nullptr;    // (capacity,)
  const int32_t* count = nullptr;    // (capacity,)
  const int32_t* sorted_idx = nullptr;  // (N,)
  uint64_t capacity = 0;
  GridParams params;
};

// Hash table size for n points: the smallest power of two >= 2 n (at least 16).
uint64_t neighbors_grid_capacity(int64_t n);

// ref (n, 3); outputs as described above, caller-allocated. Throws std::invalid_argument when a cell
// coordinate leaves the packable range (|p / cell| >= 2^20) or cell <= 0.
void neighbors_grid_build_cpu(const float* ref, int64_t n, float cell, uint64_t capacity, uint64_t* keys,
                              int64_t* start, int32_t* count, int32_t* sorted_idx, GridParams* params);

void knn_query_cpu(const float* ref, const GridView& grid, const float* query, int64_t n_query, int k,
                   int32_t* out_idx, float* out_d2);
void radius_count_cpu(const float* ref, const GridView& grid, const float* query, int64_t n_query,
                      float radius, int32_t* counts);
void radius_fill_cpu(const float* ref, const GridView& grid, const float* query, int64_t n_query, float radius,
                     const int64_t* offsets, int32_t* out_idx, float* out_d2);

void knn_query_cuda(const float* ref, const GridView& grid, const float* query, int64_t n_query, int k,
                    int32_t* out_idx, float* out_d2, StreamHandle s);
void radius_count_cuda(const float* ref, const GridView& grid, const float* query, int64_t n_query,
                       float radius, int32_t* counts, StreamHandle s);
void radius_fill_cuda(const float* ref, const GridView& grid, const float* query, int64_t n_query, float radius,
                      const int64_t* offsets, int32_t* out_idx, float* out_d2, StreamHandle s);

}  // namespace leseg::kernels
