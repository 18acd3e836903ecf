// SPDX-License-Identifier: Apache-2.0
// Memory: 64-byte aligned CPU buffers; a stream-ordered CUDA caching allocator (size classes, per-stream
// free pools, stats in use / reserved / peak, empty_cache); pinned host buffers for transfers.
// Allocation failure throws leseg::Error naming the requested size and the pool state.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/device.h"

namespace leseg {

struct MemoryStats {
  size_t in_use = 0;     // bytes handed out and not yet freed
  size_t reserved = 0;   // bytes held from the system (in use + cached)
  size_t peak = 0;       // max of in_use since the last reset_peak
  size_t num_allocs = 0; // allocation calls served
  size_t num_system_allocs = 0;  // calls that went to malloc/cudaMalloc (cache misses)
};

constexpr size_t kCpuAlignment = 64;

// Rounded block size used by the CUDA caching allocator (exposed for tests):
// < 1 MiB: multiple of 512 B; otherwise multiple of 2 MiB.
size_t cuda_size_class(size_t nbytes);

void* alloc_bytes(Device d, size_t nbytes);
void free_bytes(Device d, void* p);

MemoryStats memory_stats(Device d);
void reset_peak_memory(Device d);
// Returns cached (unused) CUDA blocks to the driver; no-op on CPU.
void empty_cache(Device d);

// CUDA-graph memory pools (engine/stream_pool.h): between begin_graph_pool and end_graph_pool, the allocations made
// on stream `s` of device `d` come from pool `id` (new_graph_pool_id()) and stay reserved for it, whoever frees them,
// until release_graph_pool(d, id), called once the graph that captured them is destroyed (its cached blocks then go
// back to the system). Bracket the stream capture with them. No-ops on a CPU device.
uint64_t new_graph_pool_id();
void begin_graph_pool(Device d, uint64_t id, kernels::StreamHandle s);
void end_graph_pool(Device d, kernels::StreamHandle s);
void release_graph_pool(Device d, uint64_t id);
size_t graph_pool_blocks(Device d, uint64_t id);  // live + cached blocks of the pool (0 on CPU)

// Page-locked host memory (falls back to aligned memory when CUDA is not built or not available).
void* alloc_pinned(size_t nbytes);
void free_pinned(void* p);

// Copies between any two devices (synchronous with respect to the host for device->host).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);

// Owned, device-tagged bytes. Views of a tensor share one Storage; `version` counts in-place writes
// so that autograd can detect a saved tensor modified after it was saved.
class Storage {
 public:
  Storage(size_t nbytes, Device d);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

}  // namespace leseg
