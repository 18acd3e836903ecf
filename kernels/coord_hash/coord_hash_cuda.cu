// SPDX-License-Identifier: Apache-2.0
// CUDA coordinate hash table: atomicCAS on 64-bit keys, atomicMin of the first row per slot, then ids by
// a prefix sum over "first row of its slot" flags: ids in order of first occurrence, equal to the CPU twin.
#include <cub/device/device_scan.cuh>

#include <climits>
#include <sstream>
#include <stdexcept>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/coord_hash/coord_hash.h"

namespace leseg::kernels {
namespace {

constexpr int kThreads = 256;

inline size_t align_up(size_t v) { return (v + 255) & ~size_t(255); }

__global__ void batch_counts_kernel(const int32_t* coords, int64_t n, int64_t nb, unsigned long long* counts,
                                    long long* bad_row) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t b = coords[4 * i];
    if (b < 0 || b >= nb) atomicMin(bad_row, (long long)i);
    else atomicAdd(&counts[b], 1ull);
  }
}

// Pass 1: claim a slot per row; slot_of[i] = absolute slot; vals[slot] = min row (first occurrence).
__global__ void insert_kernel(coord::TableView t, const int32_t* coords, int64_t n, int64_t* slot_of,
                              long long* bad_row) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t* c = coords + 4 * i;
    slot_of[i] = -1;
    if (c[0] < 0 || c[0] >= t.num_batches || !coord::xyz_in_range(c[1], c[2], c[3])) {
      atomicMin(bad_row, (long long)i);
      continue;
    }
    const int64_t begin = t.region[2 * c[0]], cap = t.region[2 * c[0] + 1];
    if (cap == 0) {
      atomicMin(bad_row, (long long)i);
      continue;
    }
    const uint64_t key = coord::pack_xyz(c[1], c[2], c[3]);
    uint64_t slot = coord::hash64(key) & uint64_t(cap - 1);
    for (int64_t probe = 0; probe < cap; ++probe) {
      unsigned long long* kp = reinterpret_cast<unsigned long long*>(t.keys + begin + int64_t(slot));
      const unsigned long long prev = atomicCAS(kp, (unsigned long long)coord::kEmptyKey, (unsigned long long)key);
      if (prev == coord::kEmptyKey || prev == key) {
        atomicMin(&t.vals[begin + int64_t(slot)], int32_t(i));
        slot_of[i] = begin + int64_t(slot);
        break;
      }
      slot = (slot + 1) & uint64_t(cap - 1);
    }
    if (slot_of[i] < 0) atomicMin(bad_row, (long long)(n + i));  // region full: row n+i marks "full"
  }
}

__global__ void first_flags_kernel(const coord::TableView t, const int64_t* slot_of, int64_t n, int32_t* flags) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    flags[i] = t.vals[slot_of[i]] == int32_t(i) ? 1 : 0;
}

__global__ void assign_ids_kernel(coord::TableView t, const int64_t* slot_of, const int32_t* flags,
                                  const int32_t* rank, int64_t n, int32_t* unique_rows) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    if (flags[i]) {
      unique_rows[rank[i]] = int32_t(i);
      t.vals[slot_of[i]] = rank[i];
    }
}

__global__ void gather_ids_kernel(const coord::TableView t, const int64_t* slot_of, int64_t n, int32_t* index) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    index[i] = t.vals[slot_of[i]];
}

__global__ void find_kernel(const coord::TableView t, const int32_t* coords, int64_t n, int32_t* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t* c = coords + 4 * i;
    out[i] = coord::table_find(t, c[0], c[1], c[2], c[3]);
  }
}

size_t scan_temp_bytes(int64_t n) {
  size_t bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                int(n > 0 ? n : 1));
  return bytes;
}

}  // namespace

size_t coord_hash_batch_counts_cuda_workspace_bytes(int64_t num_batches) {
  return align_up(size_t(num_batches) * 8) + 256;
}

void coord_hash_batch_counts_cuda(const int32_t* coords, int64_t n, int64_t num_batches, int64_t* counts_host,
                                  void* workspace, StreamHandle s) {
  cuda::NvtxRange r("leseg::coord_hash_batch_counts");
  auto* counts = static_cast<unsigned long long*>(workspace);
  auto* bad = reinterpret_cast<long long*>(static_cast<char*>(workspace) + align_up(size_t(num_batches) * 8));
  const long long init_bad = LLONG_MAX;
  auto st = cuda::stream_of(s);
  LESEG_CUDA_CHECK(cudaMemsetAsync(counts, 0, size_t(num_batches) * 8, st));
  LESEG_CUDA_CHECK(cudaMemcpyAsync(bad, &init_bad, 8, cudaMemcpyHostToDevice, st));
  if (n > 0) {
    batch_counts_kernel<<<cuda::grid_for(n, kThreads), kThreads, 0, st>>>(coords, n, num_batches, counts, bad);
    LESEG_CUDA_CHECK_LAUNCH("coord_hash batch_counts_kernel");
  }
  long long bad_host = 0;
  LESEG_CUDA_CHECK(cudaMemcpyAsync(counts_host, counts, size_t(num_batches) * 8, cudaMemcpyDeviceToHost, st));
  LESEG_CUDA_CHECK(cudaMemcpyAsync(&bad_host, bad, 8, cudaMemcpyDeviceToHost, st));
  LESEG_CUDA_CHECK(cudaStreamSynchronize(st));
  if (bad_host != LLONG_MAX) {
    int32_t row[4];
    LESEG_CUDA_CHECK(cudaMemcpy(row, coords + 4 * bad_host, 16, cudaMemcpyDeviceToHost));
    std::ostringstream os;
    os << "coord_hash: row " << bad_host << " has batch index " << row[0] << ", expected [0, " << num_batches << ")";
    throw std::invalid_argument(os.str());
  }
}

size_t coord_hash_insert_cuda_workspace_bytes(int64_t n) {
  const size_t m = size_t(n > 0 ? n : 1);
  return align_up(m * 8) + 2 * align_up(m * 4) + align_up(8) + align_up(scan_temp_bytes(n));
}

int64_t coord_hash_insert_cuda(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* index,
                               int32_t* unique_rows, void* workspace, size_t workspace_bytes, StreamHandle s) {
  cuda::NvtxRange r("leseg::coord_hash_insert");
  if (n >= int64_t(coord::kEmptyVal)) throw std::invalid_argument("coord_hash: too many rows for i32 ids");
  if (workspace_bytes < coord_hash_insert_cuda_workspace_bytes(n))
    throw std::invalid_argument("coord_hash_insert_cuda: workspace too small");
  const size_t m = size_t(n > 0 ? n : 1);
  char* w = static_cast<char*>(workspace);
  auto* slot_of = reinterpret_cast<int64_t*>(w);
  w += align_up(m * 8);
  auto* flags = reinterpret_cast<int32_t*>(w);
  w += align_up(m * 4);
  auto* rank = reinterpret_cast<int32_t*>(w);
  w += align_up(m * 4);
  auto* bad = reinterpret_cast<long long*>(w);
  w += align_up(8);
  size_t temp_bytes = scan_temp_bytes(n);
  auto st = cuda::stream_of(s);
  const long long init_bad = LLONG_MAX;
  LESEG_CUDA_CHECK(cudaMemcpyAsync(bad, &init_bad, 8, cudaMemcpyHostToDevice, st));
  // keys <- all ones (kEmptyKey), vals <- 0x7f7f7f7f (> any row id < kEmptyVal, used as "none" by atomicMin)
  LESEG_CUDA_CHECK(cudaMemsetAsync(t.keys, 0xff, size_t(t.capacity) * 8, st));
  LESEG_CUDA_CHECK(cudaMemsetAsync(t.vals, 0x7f, size_t(t.capacity) * 4, st));
  if (n == 0) return 0;
  const unsigned g = cuda::grid_for(n, kThreads);
  insert_kernel<<<g, kThreads, 0, st>>>(t, coords, n, slot_of, bad);
  LESEG_CUDA_CHECK_LAUNCH("coord_hash insert_kernel");
  long long bad_host = 0;
  LESEG_CUDA_CHECK(cudaMemcpyAsync(&bad_host, bad, 8, cudaMemcpyDeviceToHost, st));
  LESEG_CUDA_CHECK(cudaStreamSynchronize(st));
  if (bad_host != LLONG_MAX) {
    std::ostringstream os;
    if (bad_host >= n) {
      os << "coord_hash: table region is full at row " << (bad_host - n);
    } else {
      int32_t row[4];
      LESEG_CUDA_CHECK(cudaMemcpy(row, coords + 4 * bad_host, 16, cudaMemcpyDeviceToHost));
      os << "coord_hash: row " << bad_host << " = (" << row[0] << ", " << row[1] << ", " << row[2] << ", " << row[3]
         << ") has a batch outside [0, " << t.num_batches << ") or a coordinate outside [" << coord::kCoordMin << ", "
         << coord::kCoordMax << "]";
    }
    throw std::invalid_argument(os.str());
  }
  first_flags_kernel<<<g, kThreads, 0, st>>>(t, slot_of, n, flags);
  LESEG_CUDA_CHECK_LAUNCH("coord_hash first_flags_kernel");
  LESEG_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(w, temp_bytes, flags, rank, int(n), st));
  assign_ids_kernel<<<g, kThreads, 0, st>>>(t, slot_of, flags, rank, n, unique_rows);
  LESEG_CUDA_CHECK_LAUNCH("coord_hash assign_ids_kernel");
  gather_ids_kernel<<<g, kThreads, 0, st>>>(t, slot_of, n, index);
  LESEG_CUDA_CHECK_LAUNCH("coord_hash gather_ids_kernel");
  int32_t last_rank = 0, last_flag = 0;
  LESEG_CUDA_CHECK(cudaMemcpyAsync(&last_rank, rank + n - 1, 4, cudaMemcpyDeviceToHost, st));
  LESEG_CUDA_CHECK(cudaMemcpyAsync(&last_flag, flags + n - 1, 4, cudaMemcpyDeviceToHost, st));
  LESEG_CUDA_CHECK(cudaStreamSynchronize(st));
  return int64_t(last_rank) + last_flag;
}

void coord_hash_find_cuda(const coord::TableView& t, const int32_t* coords, int64_t n, int32_t* out,
                          StreamHandle s) {
  if (n <= 0) return;
  cuda::NvtxRange r("leseg::coord_hash_find");
  find_kernel<<<cuda::grid_for(n, kThreads), kThreads, 0, cuda::stream_of(s)>>>(t, coords, n, out);
  LESEG_CUDA_CHECK_LAUNCH("coord_hash find_kernel");
}

void coord_rows_gather_cuda(const int32_t* coords, const int32_t* rows, int64_t n, int32_t* out, StreamHandle s) {
  cuda::for_each(n * 4, [=] __device__(int64_t t) { out[t] = coords[4 * int64_t(rows[t / 4]) + t % 4]; }, s,
                 "leseg::coord_rows_gather");
}

}  // namespace leseg::kernels
