// SPDX-License-Identifier: Apache-2.0
// coord_hash: open-addressing (linear probing) hash table from (b, x, y, z) to a unique id.
// Layout and key packing: coord_hash_math.h (full packed coordinate as key, one region per batch element,
// load factor <= 0.5). defines: coord_hash_layout, coord_hash_batch_counts_{cpu,cuda},
// coord_hash_insert_{cpu,cuda}, coord_hash_find_{cpu,cuda},
// coord_rows_gather_{cpu,cuda}.
//
// insert (coords (n, 4) i32 rows (b, x, y, z)) -> index (n,) i32: unique id of each row's coordinate;
// unique_rows (n,) i32: unique_rows[u] = first row holding id u. Ids are numbered in order of first
// occurrence, on CPU (sequential insert) and on CUDA (atomicCAS insert, atomicMin of the first row per
// slot, then a prefix sum over "row is the first of its slot" flags), so CPU and CUDA ids agree exactly.
// Errors (std::invalid_argument): a coordinate outside [-2^20, 2^20-1] (names row and value), a batch
// outside [0, num_batches), or a full region (cannot happen with the layout below, checked anyway).
// No gradients: integer-valued.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/coord_hash/coord_hash_math.h"

namespace leseg::kernels {

// Region layout from per-batch counts (B,): region (2B,) = (begin_b, cap_b), cap_b = next pow2 >= 2*count_b
// (0 for an empty batch element). Returns the total capacity. Host function.
int64_t coord_hash_layout(const int64_t* counts, int64_t num_batches, int64_t* region);

// counts (B,) i64 = rows per batch index; throws on a batch index outside [0, B).
void coord_hash_batch_counts_cpu(const int32_t* coords, int64_t n, int64_t num_batches, int64_t* counts);
// Returns the number of unique coordinates. Initialises the table itself.
int64_t coord_hash_insert_cpu(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* index,
                              int32_t* unique_rows);
// out (n,) i32 = id of coords[i] + offset, or -1 (absent or out of range).
void coord_hash_find_cpu(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* out);
// out (n, 4) = coords[rows[i]] (picks the unique coordinates after an insert).
void coord_rows_gather_cpu(const int32_t* coords, const int32_t* rows, int64_t n, int32_t* out);

// CUDA: same contracts. Workspace sizes in bytes (device memory supplied by the caller).
size_t coord_hash_batch_counts_cuda_workspace_bytes(int64_t num_batches);
void coord_hash_batch_counts_cuda(const int32_t* coords, int64_t n, int64_t num_batches, int64_t* counts_host,
                                  void* workspace, StreamHandle s);
size_t coord_hash_insert_cuda_workspace_bytes(int64_t n);
int64_t coord_hash_insert_cuda(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* index,
                               int32_t* unique_rows, void* workspace, size_t workspace_bytes, StreamHandle s);
void coord_hash_find_cuda(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* out,
                          StreamHandle s);
void coord_rows_gather_cuda(const int32_t* coords, const int32_t* rows, int64_t n, int32_t* out, StreamHandle s);

}  // namespace leseg::kernels
