// SPDX-License-Identifier: Apache-2.0
// CUDA kernel-map build: one thread per (offset, output) hash query; per-offset counts; ONE stream compaction of
// the whole (V, n_out) neighbour matrix read row-major (three launches whatever V: tile counts, a scan of the tile
// counts, a block-scan write), so pair p of offset k lands at offsets[k] + its rank in row k: pairs ordered by
// out_idx within an offset, identical to the CPU twin. The inversion is one launch over all pairs (the offset of a
// pair found by binary search in a table passed by value).
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/kernel_map/kernel_map.h"

namespace leseg::kernels {
namespace {

constexpr int kThreads = 256;
inline size_t align_up(size_t v) { return (v + 255) & ~size_t(255); }

// grid (x: chunks of a row, y: offset k); one atomic per block after a block reduction.
__global__ void count_kernel(const int32_t* nbr, int64_t n_out, unsigned long long* counts) {
  using Reduce = cub::BlockReduce<unsigned long long, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int64_t k = blockIdx.y;
  const int32_t* row = nbr + k * n_out;
  unsigned long long c = 0;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n_out; j += int64_t(gridDim.x) * blockDim.x)
    c += row[j] >= 0;
  const unsigned long long total = Reduce(tmp).Sum(c);
  if (threadIdx.x == 0 && total) atomicAdd(&counts[k], total);
}

constexpr int kItems = 8;
constexpr int64_t kTile = int64_t(kThreads) * kItems;  // elements of the flattened (V, n_out) matrix per block

// Pass 1: valid entries per tile.
__global__ void tile_count_kernel(const int32_t* __restrict__ nbr, int64_t total, int32_t* __restrict__ counts) {
  using Reduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int64_t base = int64_t(blockIdx.x) * kTile + int64_t(threadIdx.x) * kItems;
  int c = 0;
#pragma unroll
  for (int i = 0; i < kItems; ++i) c += (base + i < total && nbr[base + i] >= 0);
  const int t = Reduce(tmp).Sum(c);
  if (threadIdx.x == 0) counts[blockIdx.x] = t;
}
// Pass 3: each thread writes its valid entries at tile base + block-exclusive prefix (order preserved).
__global__ void tile_write_kernel(const int32_t* __restrict__ nbr, int64_t total, int64_t n_out,
                                  const int32_t* __restrict__ tile_base, int32_t* __restrict__ in_idx,
                                  int32_t* __restrict__ out_idx) {
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const int64_t base = int64_t(blockIdx.x) * kTile + int64_t(threadIdx.x) * kItems;
  int32_t v[kItems];
  int c = 0;
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    v[i] = base + i < total ? nbr[base + i] : -1;
    c += v[i] >= 0;
  }
  int prefix = 0;
  Scan(tmp).ExclusiveSum(c, prefix);
  int64_t p = int64_t(tile_base[blockIdx.x]) + prefix;
#pragma unroll
  for (int i = 0; i < kItems; ++i)
    if (v[i] >= 0) {
      in_idx[p] = v[i];
      out_idx[p] = int32_t((base + i) % n_out);
      ++p;
    }
}

constexpr int kMaxVolume = 128;
struct OffsetTable {
  int64_t off[kMaxVolume];
  int volume;
};
__global__ void invert_kernel(const int32_t* __restrict__ in_idx, const int32_t* __restrict__ out_idx, int64_t P,
                              int64_t n_in, OffsetTable t, int32_t* __restrict__ nbr_t) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < P; p += int64_t(gridDim.x) * blockDim.x) {
    int lo = 0, hi = t.volume - 1;  // the k with off[k] <= p < off[k + 1]
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (t.off[mid] <= p) lo = mid; else hi = mid - 1;
    }
    nbr_t[int64_t(lo) * n_in + in_idx[p]] = out_idx[p];
  }
}

size_t scan_temp_bytes(int64_t n) {
  size_t bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                int(n > 0 ? n : 1));
  return bytes;
}

}  // namespace

void kernel_map_neighbors_cuda(const coord::TableView& t, const int32_t* out_coords, int64_t n_out,
                               const KernelGeometry& g, int32_t* nbr, StreamHandle s) {
  if (g.kernel_size < 1 || g.kernel_size > 5 || g.dilation < 1 || g.dilation > 3 || g.tensor_stride < 1)
    throw std::invalid_argument("kernel_map_neighbors_cuda: kernel size must be 1..5, dilation 1..3, stride >= 1");
  const int64_t V = g.volume();
  const int K = g.kernel_size, dil = g.dilation;
  const int32_t ts = g.tensor_stride;
  cuda::for_each(
      n_out * V,
      [=] __device__(int64_t tid) {
        const int64_t k = tid / n_out, j = tid % n_out;
        const int32_t* c = out_coords + 4 * j;
        int32_t dx, dy, dz;
        kmap::kernel_offset(k, K, dil, ts, dx, dy, dz);
        nbr[tid] = coord::table_find(t, c[0], c[1] + dx, c[2] + dy, c[3] + dz);
      },
      s, "leseg::kernel_map_neighbors");
}

size_t kernel_map_count_cuda_workspace_bytes(int64_t volume) { return align_up(size_t(volume) * 8); }

void kernel_map_count_cuda(const int32_t* nbr, int64_t n_out, int64_t volume, int64_t* offsets_host,
                           void* workspace, StreamHandle s) {
  cuda::NvtxRange r("leseg::kernel_map_count");
  auto st = cuda::stream_of(s);
  auto* counts = static_cast<unsigned long long*>(workspace);
  LESEG_CUDA_CHECK(cudaMemsetAsync(counts, 0, size_t(volume) * 8, st));
  if (n_out > 0) {
    const dim3 grid(std::min<unsigned>(cuda::grid_for(n_out, kThreads), 1024u), unsigned(volume));
    count_kernel<<<grid, kThreads, 0, st>>>(nbr, n_out, counts);
    LESEG_CUDA_CHECK_LAUNCH("kernel_map count_kernel");
  }
  std::vector<unsigned long long> c(static_cast<size_t>(volume));
  LESEG_CUDA_CHECK(cudaMemcpyAsync(c.data(), counts, size_t(volume) * 8, cudaMemcpyDeviceToHost, st));
  LESEG_CUDA_CHECK(cudaStreamSynchronize(st));
  offsets_host[0] = 0;
  for (int64_t k = 0; k < volume; ++k) offsets_host[k + 1] = offsets_host[k] + int64_t(c[size_t(k)]);
}

size_t kernel_map_fill_cuda_workspace_bytes(int64_t n_out) {
  const size_t m = size_t(n_out > 0 ? n_out : 1);
  return 2 * align_up(m * 4) + align_up(scan_temp_bytes(n_out));
}

void kernel_map_fill_cuda(const int32_t* nbr, int64_t n_out, int64_t volume, const int64_t* offsets_host,
                          int32_t* in_idx, int32_t* out_idx, void* workspace, size_t workspace_bytes,
                          StreamHandle s) {
  cuda::NvtxRange r("leseg::kernel_map_fill");
  if (n_out <= 0 || offsets_host[volume] == 0) return;
  if (n_out >= (int64_t(1) << 31)) throw std::invalid_argument("kernel_map_fill_cuda: n_out exceeds 2^31");
  if (volume > kTile) throw std::invalid_argument("kernel_map_fill_cuda: kernel volume too large");
  if (workspace_bytes < kernel_map_fill_cuda_workspace_bytes(n_out))
    throw std::invalid_argument("kernel_map_fill_cuda: workspace too small");
  auto st = cuda::stream_of(s);
  const int64_t total = volume * n_out, tiles = (total + kTile - 1) / kTile;  // tiles <= n_out (volume <= kTile)
  char* w = static_cast<char*>(workspace);
  auto* counts = reinterpret_cast<int32_t*>(w);
  auto* base = reinterpret_cast<int32_t*>(w + align_up(size_t(n_out) * 4));
  void* temp = w + 2 * align_up(size_t(n_out) * 4);
  size_t temp_bytes = scan_temp_bytes(tiles);
  tile_count_kernel<<<unsigned(tiles), kThreads, 0, st>>>(nbr, total, counts);
  LESEG_CUDA_CHECK_LAUNCH("kernel_map tile_count_kernel");
  LESEG_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp, temp_bytes, counts, base, int(tiles), st));
  tile_write_kernel<<<unsigned(tiles), kThreads, 0, st>>>(nbr, total, n_out, base, in_idx, out_idx);
  LESEG_CUDA_CHECK_LAUNCH("kernel_map tile_write_kernel");
}

void kernel_map_invert_cuda(const int32_t* in_idx, const int32_t* out_idx, const int64_t* offsets_host,
                            int64_t volume, int64_t n_in, int32_t* nbr_t, StreamHandle s) {
  cuda::NvtxRange r("leseg::kernel_map_invert");
  auto st = cuda::stream_of(s);
  LESEG_CUDA_CHECK(cudaMemsetAsync(nbr_t, 0xff, size_t(volume * n_in) * 4, st));
  const int64_t P = offsets_host[volume];
  if (P == 0) return;
  if (volume >= kMaxVolume) throw std::invalid_argument("kernel_map_invert_cuda: kernel volume too large");
  OffsetTable t{};
  t.volume = int(volume);
  for (int64_t k = 0; k <= volume; ++k) t.off[k] = offsets_host[k];
  invert_kernel<<<cuda::grid_for(P, kThreads), kThreads, 0, st>>>(in_idx, out_idx, P, n_in, t, nbr_t);
  LESEG_CUDA_CHECK_LAUNCH("kernel_map invert_kernel");
}

void downsample_coords_cuda(const int32_t* coords, int64_t n, int32_t out_stride, int32_t* out, StreamHandle s) {
  if (out_stride < 1) throw std::invalid_argument("downsample_coords_cuda: stride must be >= 1");
  cuda::for_each(
      n * 4,
      [=] __device__(int64_t t) {
        out[t] = (t % 4 == 0) ? coords[t] : kmap::downsample(coords[t], out_stride);
      },
      s, "leseg::downsample_coords");
}

}  // namespace leseg::kernels
