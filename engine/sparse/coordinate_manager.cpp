// SPDX-License-Identifier: Apache-2.0
// Coordinate sets (hash tables) and the kernel-map cache; calls the coord_hash / kernel_map kernels for the
// manager's device. Host syncs: batch counts, unique counts and per-offset pair counts come back to the host
// (they size the next allocations).
#include "engine/sparse/coordinate_manager.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "kernels/coord_hash/coord_hash.h"
#include "kernels/kernel_map/kernel_map.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

namespace leseg {

namespace {
Tensor workspace(size_t bytes, Device d) { return Tensor::empty(Shape{int64_t(bytes > 0 ? bytes : 1)}, DType::u8, d); }

// Kernel errors (std::invalid_argument) become leseg::Error with the op name.
template <class F>
void kcall(const char* op, F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    LESEG_FAIL(op, ": ", e.what());
  }
}
}  // namespace

const Tensor& CoordinateSet::morton() const {
  if (morton_order.defined()) return morton_order;
  const Device d = coords.device();
  const int64_t n = size();
  Tensor order = Tensor::empty(Shape{std::max<int64_t>(n, 1)}, DType::i32, d);
  LESEG_DISPATCH_DEVICE(d, "morton_order",
      kernels::morton_order_cpu(coords.data<int32_t>(), n, stride, order.data<int32_t>()),
      {
        Tensor ws = Tensor::empty(Shape{int64_t(kernels::morton_order_cuda_workspace_bytes(n))}, DType::u8, d);
        kernels::morton_order_cuda(coords.data<int32_t>(), n, stride, order.data<int32_t>(), ws.data_ptr(),
                                   kernels::morton_order_cuda_workspace_bytes(n), current_stream(d));
      });
  morton_order = order;
  return morton_order;
}

kernels::coord::TableView CoordinateSet::table() const {
  kernels::coord::TableView t;
  t.keys = keys.numel() ? static_cast<uint64_t*>(keys.data_ptr()) : nullptr;
  t.vals = vals.numel() ? vals.data<int32_t>() : nullptr;
  t.region = region.data<int64_t>();
  t.num_batches = num_batches;
  t.capacity = keys.numel();
  return t;
}

std::shared_ptr<CoordinateSet> CoordinateManager::build_set(const Tensor& coords, int32_t stride, int64_t num_batches,
                                                            Tensor* index_out, Tensor* unique_rows_out,
                                                            int64_t* num_unique_out) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 4 && coords.dtype() == DType::i32,
              "sparse coordinates: expected (N, 4) i32 rows (batch, x, y, z), got ",
              coords.defined() ? coords.str() : std::string("undefined"));
  LESEG_CHECK(num_batches >= 1 && num_batches <= kernels::coord::kMaxBatch, "sparse coordinates: batch count ",
              num_batches, " outside [1, ", kernels::coord::kMaxBatch, "]");
  LESEG_CHECK(stride >= 1, "sparse coordinates: tensor stride ", stride, " must be >= 1");
  const Device d = coords.device();
  const int64_t n = coords.size(0);
  LESEG_CHECK(n < (int64_t(1) << 31) - 1, "sparse coordinates: ", n, " rows exceed the i32 id range");
  auto set = std::make_shared<CoordinateSet>();
  set->stride = stride;
  set->num_batches = num_batches;
  set->batch_counts.assign(size_t(num_batches), 0);
  const kernels::StreamHandle s = current_stream(d);
  kcall("sparse coordinates", [&] {
    LESEG_DISPATCH_DEVICE(d, "coord_hash",
        kernels::coord_hash_batch_counts_cpu(coords.data<int32_t>(), n, num_batches, set->batch_counts.data()),
        {
          Tensor ws = workspace(kernels::coord_hash_batch_counts_cuda_workspace_bytes(num_batches), d);
          kernels::coord_hash_batch_counts_cuda(coords.data<int32_t>(), n, num_batches, set->batch_counts.data(),
                                                ws.data_ptr(), s);
        });
  });
  // The host needs the per-batch counts to lay out the table: a structural sync (engine/host_sync.h).
  if (host_sync_counting()) note_host_sync(HostSyncKind::Structure, d, "coord_hash_batch_counts (" + std::to_string(n) + " rows)");
  set->region_host.assign(size_t(2 * num_batches), 0);
  const int64_t cap = kernels::coord_hash_layout(set->batch_counts.data(), num_batches, set->region_host.data());
  set->keys = Tensor::empty(Shape{cap}, DType::i64, d);
  set->vals = Tensor::empty(Shape{cap}, DType::i32, d);
  set->region = Tensor::from_vector<int64_t>(set->region_host, Shape{2 * num_batches}, d);
  Tensor index = Tensor::empty(Shape{n}, DType::i32, d);
  Tensor unique_rows = Tensor::empty(Shape{n}, DType::i32, d);
  int64_t num_unique = 0;
  const auto t = set->table();
  kcall("sparse coordinates", [&] {
    LESEG_DISPATCH_DEVICE(d, "coord_hash",
        num_unique = kernels::coord_hash_insert_cpu(t, coords.data<int32_t>(), n, index.data<int32_t>(),
                                                    unique_rows.data<int32_t>()),
        {
          const size_t bytes = kernels::coord_hash_insert_cuda_workspace_bytes(n);
          Tensor ws = workspace(bytes, d);
          num_unique = kernels::coord_hash_insert_cuda(t, coords.data<int32_t>(), n, index.data<int32_t>(),
                                                       unique_rows.data<int32_t>(), ws.data_ptr(), bytes, s);
        });
  });
  if (host_sync_counting()) note_host_sync(HostSyncKind::Structure, d, "coord_hash_insert: unique count of " + std::to_string(n) + " rows");
  set->coords = coords;
  if (index_out) *index_out = index;
  if (unique_rows_out) *unique_rows_out = unique_rows.narrow(0, num_unique);
  if (num_unique_out) *num_unique_out = num_unique;
  return set;
}

std::shared_ptr<const CoordinateSet> CoordinateManager::insert(const Tensor& coords, int32_t stride) {
  LESEG_CHECK(coords.device() == device_, "CoordinateManager: coordinates on ", coords.device().str(),
              ", manager on ", device_.str());
  LESEG_CHECK(!sets_.count(stride), "CoordinateManager: a coordinate set at stride ", stride, " already exists");
  int64_t num_unique = 0;
  auto set = build_set(coords, stride, num_batches_, nullptr, nullptr, &num_unique);
  LESEG_CHECK(num_unique == coords.size(0), "SparseTensor: coordinates must be unique: ", coords.size(0), " rows, ",
              num_unique, " unique (voxelize points first)");
  sets_[stride] = set;
  return set;
}

std::shared_ptr<const CoordinateSet> CoordinateManager::find(int32_t stride) const {
  auto it = sets_.find(stride);
  return it == sets_.end() ? nullptr : it->second;
}

std::shared_ptr<const CoordinateSet> CoordinateManager::downsample(int32_t stride) {
  if (auto s2 = find(2 * stride)) return s2;
  auto fine = find(stride);
  LESEG_CHECK(fine != nullptr, "CoordinateManager::downsample: no coordinate set at stride ", stride);
  const Device d = device_;
  const int64_t n = fine->size();
  Tensor ds = Tensor::empty(Shape{n, 4}, DType::i32, d);
  const kernels::StreamHandle s = current_stream(d);
  LESEG_DISPATCH_DEVICE(d, "downsample",
      kernels::downsample_coords_cpu(fine->coords.data<int32_t>(), n, 2 * stride, ds.data<int32_t>()),
      kernels::downsample_coords_cuda(fine->coords.data<int32_t>(), n, 2 * stride, ds.data<int32_t>(), s));
  Tensor rows;
  int64_t m = 0;
  build_set(ds, 2 * stride, num_batches_, nullptr, &rows, &m);  // temporary table: only the unique rows matter
  Tensor coarse = Tensor::empty(Shape{m, 4}, DType::i32, d);
  LESEG_DISPATCH_DEVICE(d, "downsample",
      kernels::coord_rows_gather_cpu(ds.data<int32_t>(), rows.data<int32_t>(), m, coarse.data<int32_t>()),
      kernels::coord_rows_gather_cuda(ds.data<int32_t>(), rows.data<int32_t>(), m, coarse.data<int32_t>(), s));
  auto set = build_set(coarse, 2 * stride, num_batches_);  // exact-size table (load <= 0.5)
  sets_[2 * stride] = set;
  return set;
}

std::shared_ptr<const KernelMap> CoordinateManager::kernel_map(int32_t in_stride, int32_t out_stride, int kernel_size,
                                                               int dilation, KernelRegion region) {
  LESEG_CHECK(out_stride == in_stride || out_stride == 2 * in_stride, "kernel_map: out stride ", out_stride,
              " must equal the in stride ", in_stride, " or twice it");
  LESEG_CHECK(kernel_size >= 1 && kernel_size <= 5, "kernel_map: kernel size ", kernel_size, " not in 1..5");
  LESEG_CHECK(dilation >= 1 && dilation <= 3, "kernel_map: dilation ", dilation, " not in 1..3");
  const auto key = std::make_tuple(in_stride, out_stride, kernel_size, dilation, int(region));
  if (auto it = maps_.find(key); it != maps_.end()) return it->second;
  auto in = find(in_stride);
  LESEG_CHECK(in != nullptr, "kernel_map: no coordinate set at stride ", in_stride);
  auto out = out_stride == in_stride ? in : downsample(in_stride);
  const Device d = device_;
  const kernels::StreamHandle s = current_stream(d);
  kernels::KernelGeometry g{kernel_size, dilation, in_stride};
  auto km = std::make_shared<KernelMap>();
  km->symmetric = out == in && kernel_size % 2 == 1;
  km->n_in = in->size();
  km->n_out = out->size();
  km->volume = g.volume();
  km->offsets.assign(size_t(km->volume + 1), 0);
  Tensor nbr = Tensor::empty(Shape{km->volume, km->n_out}, DType::i32, d);
  const auto t = in->table();
  const int32_t* oc = out->coords.data<int32_t>();
  kcall("kernel_map", [&] {
    LESEG_DISPATCH_DEVICE(d, "kernel_map",
        {
          kernels::kernel_map_neighbors_cpu(t, oc, km->n_out, g, nbr.data<int32_t>(), km->symmetric);
          kernels::kernel_map_count_cpu(nbr.data<int32_t>(), km->n_out, km->volume, km->offsets.data());
        },
        {
          kernels::kernel_map_neighbors_cuda(t, oc, km->n_out, g, nbr.data<int32_t>(), s);
          Tensor ws = workspace(kernels::kernel_map_count_cuda_workspace_bytes(km->volume), d);
          kernels::kernel_map_count_cuda(nbr.data<int32_t>(), km->n_out, km->volume, km->offsets.data(),
                                         ws.data_ptr(), s);
        });
  });
  if (host_sync_counting()) note_host_sync(HostSyncKind::Structure, d, "kernel_map_count: pair count (" + std::to_string(km->n_out) + " outputs)");
  const int64_t P = km->num_pairs();
  km->in_idx = Tensor::empty(Shape{P}, DType::i32, d);
  km->out_idx = Tensor::empty(Shape{P}, DType::i32, d);
  LESEG_DISPATCH_DEVICE(d, "kernel_map",
      kernels::kernel_map_fill_cpu(nbr.data<int32_t>(), km->n_out, km->volume, km->offsets.data(),
                                   km->in_idx.data<int32_t>(), km->out_idx.data<int32_t>()),
      {
        const size_t bytes = kernels::kernel_map_fill_cuda_workspace_bytes(km->n_out);
        Tensor ws = workspace(bytes, d);
        kernels::kernel_map_fill_cuda(nbr.data<int32_t>(), km->n_out, km->volume, km->offsets.data(),
                                      km->in_idx.data<int32_t>(), km->out_idx.data<int32_t>(), ws.data_ptr(), bytes,
                                      s);
      });
  // Kept on both devices: the output-stationary CPU conv and the fused CUDA variants read it (the CPU used to drop
  // it and rebuild it from the pair lists on first use: one more pass over V x n_out per map and step).
  km->nbr_out = nbr;
  maps_[key] = km;
  plan_.push_back(StructureRequest{in_stride, out_stride, kernel_size, dilation, region});
  return km;
}

int64_t CoordinateManager::prebuild(const StructurePlan& plan) {
  int64_t built = 0;
  for (const StructureRequest& r : plan) {
    if (!find(r.in_stride)) break;  // this manager's network input is not the one the plan was recorded on
    kernel_map(r.in_stride, r.out_stride, r.kernel_size, r.dilation, r.region);
    ++built;
  }
  return built;
}

kernels::ConvMap KernelMap::conv_map(bool transposed, bool need_nbr) const {
  if (need_nbr) {
    const Device d = in_idx.device();
    if (!nbr_out.defined()) {  // CPU maps drop the matrix; rebuild from the pairs when asked
      Tensor m = Tensor::empty(Shape{volume, n_out}, DType::i32, d);
      LESEG_DISPATCH_DEVICE(d, "kernel_map",
          kernels::kernel_map_invert_cpu(out_idx.data<int32_t>(), in_idx.data<int32_t>(), offsets.data(), volume, n_out,
                                         m.data<int32_t>()),
          kernels::kernel_map_invert_cuda(out_idx.data<int32_t>(), in_idx.data<int32_t>(), offsets.data(), volume,
                                          n_out, m.data<int32_t>(), current_stream(d)));
      nbr_out = m;
    }
    if (!nbr_in.defined() && symmetric && d.is_cpu()) {  // row k of nbr_in = row V-1-k of nbr_out (n_in == n_out)
      Tensor m = Tensor::empty(Shape{volume, n_in}, DType::i32, d);
      for (int64_t k = 0; k < volume; ++k)
        std::memcpy(m.data<int32_t>() + k * n_in, nbr_out.data<int32_t>() + (volume - 1 - k) * n_out,
                    size_t(n_in) * sizeof(int32_t));
      nbr_in = m;
    }
    if (!nbr_in.defined()) {
      Tensor m = Tensor::empty(Shape{volume, n_in}, DType::i32, d);
      LESEG_DISPATCH_DEVICE(d, "kernel_map",
          kernels::kernel_map_invert_cpu(in_idx.data<int32_t>(), out_idx.data<int32_t>(), offsets.data(), volume, n_in,
                                         m.data<int32_t>()),
          kernels::kernel_map_invert_cuda(in_idx.data<int32_t>(), out_idx.data<int32_t>(), offsets.data(), volume,
                                          n_in, m.data<int32_t>(), current_stream(d)));
      nbr_in = m;
    }
  }
  kernels::ConvMap m;
  m.in_idx = in_idx.numel() ? in_idx.data<int32_t>() : nullptr;
  m.out_idx = out_idx.numel() ? out_idx.data<int32_t>() : nullptr;
  m.offsets = offsets.data();
  m.volume = volume;
  m.nbr_out = nbr_out.defined() && nbr_out.numel() ? nbr_out.data<int32_t>() : nullptr;
  m.nbr_in = nbr_in.defined() && nbr_in.numel() ? nbr_in.data<int32_t>() : nullptr;
  if (transposed) {
    std::swap(m.in_idx, m.out_idx);
    std::swap(m.nbr_out, m.nbr_in);
  }
  return m;
}

}  // namespace leseg
