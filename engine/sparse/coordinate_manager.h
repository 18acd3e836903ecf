// SPDX-License-Identifier: Apache-2.0
// CoordinateManager: shared along a network, it owns the coordinate sets (one per tensor stride, each with its
// hash table) and caches kernel maps keyed by (in stride, out stride, kernel size, dilation, region).
//   - submanifold map: in stride == out stride (output coordinates = input coordinates);
//   - strided map:     out stride == 2 * in stride, output set = unique(floor(c / (2 s)) * 2 s) (cached);
//   - transposed conv: asks for the strided map (fine -> coarse) and reads it with in/out swapped, so the
//                      up-sampling reuses the down-sampling map and restores the fine coordinate set exactly.
// All tensors live on the manager's device. The batch count is fixed per manager (batch indices in [0, B)).
// Not thread-safe: one manager per network forward (the loader builds one per batch).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "engine/tensor.h"
#include "kernels/coord_hash/coord_hash_math.h"
#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg {

// A unique set of coordinates (N, 4) i32 rows (b, x, y, z) with its hash table (row id <- coordinate).
struct CoordinateSet {
  Tensor coords;               // (N, 4) i32
  int32_t stride = 1;
  int64_t num_batches = 0;
  Tensor keys;                 // (capacity,) i64 holding u64 packed keys
  Tensor vals;                 // (capacity,) i32
  Tensor region;               // (2B,) i64 on the device
  std::vector<int64_t> region_host;
  std::vector<int64_t> batch_counts;  // rows per batch element (host)
  mutable Tensor morton_order;  // (N,) i32 rows in Morton order (tensor-core conv), built on first use
  const Tensor& morton() const;
  int64_t size() const { return coords.size(0); }
  kernels::coord::TableView table() const;
};

enum class KernelRegion : uint8_t { Cube = 0 };

// One structure request as a network made it: a kernel map (in stride, out stride, kernel size, dilation,
// region); the coarser coordinate sets a strided map needs are built with it. A StructurePlan is the
// requests of one forward in first-request order: a property of the network, not of the batch, so the plan of
// step N tells what step N + 1 will ask for (docs/execution.md, "The sparse structure ahead of the step").
struct StructureRequest {
  int32_t in_stride = 1, out_stride = 1;
  int kernel_size = 3, dilation = 1;
  KernelRegion region = KernelRegion::Cube;
  bool operator==(const StructureRequest&) const = default;
};
using StructurePlan = std::vector<StructureRequest>;

struct KernelMap {
  int64_t n_in = 0, n_out = 0, volume = 0;
  Tensor in_idx, out_idx;        // (P,) i32
  std::vector<int64_t> offsets;  // (V + 1,) host
  mutable Tensor nbr_out;        // (V, n_out) i32, the neighbour matrix the build made (kept on CPU and CUDA)
  mutable Tensor nbr_in;         // (V, n_in) i32, built on first use (output-stationary / fused variants)
  // A submanifold map (one coordinate set, odd K): nbr_in's row k is nbr_out's row V-1-k (offset V-1-k = -offset k),
  // so nbr_in is a row-reversed copy instead of an inversion of the pair lists.
  bool symmetric = false;
  // Tensor-core conv: per-tile offset bitmasks of the map read forwards (over nbr_out in the output set's Morton
  // order) and backwards (nbr_in, input set's order), per orientation [transposed]; built on first use.
  mutable Tensor tc_mask_fwd[2], tc_mask_bwd[2];
  int64_t num_pairs() const { return offsets.empty() ? 0 : offsets.back(); }
  // The map as the conv kernel reads it; `transposed` swaps in and out. `need_nbr` builds the neighbour
  // matrices (CUDA ImplicitGemm).
  kernels::ConvMap conv_map(bool transposed, bool need_nbr) const;
};

class CoordinateManager {
 public:
  CoordinateManager(Device device, int64_t num_batches) : device_(device), num_batches_(num_batches) {}
  Device device() const { return device_; }
  int64_t num_batches() const { return num_batches_; }

  // Registers unique coordinates at `stride` (error on duplicates, out-of-range values, or a stride already
  // registered with other coordinates). Returns the set.
  std::shared_ptr<const CoordinateSet> insert(const Tensor& coords, int32_t stride);
  // The set at `stride` or null.
  std::shared_ptr<const CoordinateSet> find(int32_t stride) const;
  // The set at 2 * stride derived from the set at `stride` (built once).
  std::shared_ptr<const CoordinateSet> downsample(int32_t stride);
  // Cached kernel map between the sets at in_stride and out_stride (out_stride = in_stride or 2 * in_stride).
  std::shared_ptr<const KernelMap> kernel_map(int32_t in_stride, int32_t out_stride, int kernel_size, int dilation,
                                              KernelRegion region = KernelRegion::Cube);
  size_t num_cached_maps() const { return maps_.size(); }

  // Every kernel map asked of this manager, in first-request order (cache hits are not repeated).
  const StructurePlan& plan() const { return plan_; }
  // Builds, ahead of the forward, what `plan` asks for (in its order), so that the forward's requests are cache
  // hits and the host syncs that size the coordinate sets and maps (HostSyncKind::Structure) happen here, outside
  // the training step. A request whose input set is missing here (a network that starts at another stride) and
  // every request after it are skipped: the forward then builds them on demand, as without a plan. The maps are
  // built by the same code as on demand, so the forward's results do not depend on whether a plan was used.
  // Returns the number of requests that were built or already cached.
  int64_t prebuild(const StructurePlan& plan);

  // Builds a coordinate set from coords without registering it (voxelize uses it); `index`/`unique_rows`
  // receive the insert results when given.
  static std::shared_ptr<CoordinateSet> build_set(const Tensor& coords, int32_t stride, int64_t num_batches,
                                                  Tensor* index = nullptr, Tensor* unique_rows = nullptr,
                                                  int64_t* num_unique = nullptr);

 private:
  Device device_;
  int64_t num_batches_;
  std::map<int32_t, std::shared_ptr<const CoordinateSet>> sets_;
  std::map<std::tuple<int32_t, int32_t, int, int, int>, std::shared_ptr<const KernelMap>> maps_;
  StructurePlan plan_;
};

}  // namespace leseg
