// SPDX-License-Identifier: Apache-2.0
#include "engine/allocator.h"
#include "engine/profiler.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace leseg {
namespace {

std::string human(size_t b) {
  char buf[64];
  if (b >= (size_t(1) << 30)) snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(size_t(1) << 30));
  else if (b >= (size_t(1) << 20)) snprintf(buf, sizeof buf, "%.2f MiB", double(b) / double(size_t(1) << 20));
  else snprintf(buf, sizeof buf, "%zu B", b);
  return buf;
}

// ---- CPU ---------------------------------------------------------------------------------------
struct CpuPool {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  MemoryStats stats;
};
CpuPool& cpu_pool() {
  static CpuPool* p = new CpuPool();  // leaked on purpose: outlives static tensors at exit
  return *p;
}

void* cpu_alloc(size_t nbytes) {
  size_t n = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  if (n == 0) n = kCpuAlignment;
  if (profiler::enabled()) profiler::note_alloc(n);
  void* p = std::aligned_alloc(kCpuAlignment, n);
  auto& pool = cpu_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  if (!p)
    LESEG_FAIL("CPU out of memory: tried to allocate ", human(n), " (", n, " bytes); in use ",
               human(pool.stats.in_use), ", peak ", human(pool.stats.peak));
  pool.sizes[p] = n;
  pool.stats.in_use += n;
  pool.stats.reserved += n;
  pool.stats.peak = std::max(pool.stats.peak, pool.stats.in_use);
  pool.stats.num_allocs++;
  pool.stats.num_system_allocs++;
  return p;
}
void cpu_free(void* p) {
  if (!p) return;
  auto& pool = cpu_pool();
  {
    std::lock_guard<std::mutex> lk(pool.mu);
    auto it = pool.sizes.find(p);
    if (it != pool.sizes.end()) {
      pool.stats.in_use -= it->second;
      pool.stats.reserved -= it->second;
      pool.sizes.erase(it);
    }
  }
  std::free(p);
}

#if LESEG_WITH_CUDA
// ---- CUDA caching allocator ----------------------------------------------------------------------
// Blocks are rounded to a size class and, when freed, parked in the free pool of the stream they were
// allocated on: reuse on the same stream needs no event (stream order guarantees the previous user is
// done). Best fit, refusing blocks more than twice the request so that small tensors don't pin big ones.
struct Block {
  void* ptr;
  size_t size;
  int device;
  cudaStream_t stream;
};
struct CudaPool {
  std::mutex mu;
  std::unordered_map<void*, Block> live;
  // (device, stream) -> size -> blocks
  std::map<std::pair<int, cudaStream_t>, std::multimap<size_t, void*>> free_blocks;
  std::unordered_map<void*, Block> cached;
  std::unordered_map<int, MemoryStats> stats;
};
CudaPool& cuda_pool() {
  static CudaPool* p = new CudaPool();
  return *p;
}

// Frees the cached blocks of `device`; the caller's current device is restored afterwards.
void release_cached_locked(CudaPool& pool, int device) {
  CudaDeviceGuard guard(device);
  for (auto it = pool.free_blocks.begin(); it != pool.free_blocks.end(); ++it) {
    if (it->first.first != device) continue;
    for (auto& [sz, ptr] : it->second) {
      if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();  // a sticky error is reported by the next checked call
      pool.stats[device].reserved -= sz;
      pool.cached.erase(ptr);
    }
    it->second.clear();
  }
}

void* cuda_alloc(Device d, size_t nbytes) {
  size_t n = cuda_size_class(nbytes);
  cudaStream_t stream = static_cast<cudaStream_t>(current_stream(d));
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  auto& st = pool.stats[d.index];
  st.num_allocs++;
  auto& fl = pool.free_blocks[{d.index, stream}];
  auto it = fl.lower_bound(n);
  if (it != fl.end() && it->first <= 2 * n) {
    void* p = it->second;
    size_t sz = it->first;
    fl.erase(it);
    pool.cached.erase(p);
    pool.live[p] = Block{p, sz, d.index, stream};
    st.in_use += sz;
    st.peak = std::max(st.peak, st.in_use);
    return p;
  }
  CudaDeviceGuard guard(d);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    release_cached_locked(pool, d.index);
    e = cudaMalloc(&p, n);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    LESEG_FAIL("CUDA out of memory on cuda:", d.index, ": tried to allocate ", human(n), " (", nbytes,
               " bytes requested); in use ", human(st.in_use), ", reserved ", human(st.reserved),
               ", device free ", human(free_b), " of ", human(total_b), " (", cudaGetErrorString(e), ")");
  }
  st.num_system_allocs++;
  st.reserved += n;
  st.in_use += n;
  st.peak = std::max(st.peak, st.in_use);
  pool.live[p] = Block{p, n, d.index, stream};
  return p;
}

void cuda_free(void* p) {
  if (!p) return;
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  auto it = pool.live.find(p);
  if (it == pool.live.end()) return;
  Block b = it->second;
  pool.live.erase(it);
  pool.stats[b.device].in_use -= b.size;
  pool.free_blocks[{b.device, b.stream}].emplace(b.size, p);
  pool.cached[p] = b;
}
#endif

}  // namespace

size_t cuda_size_class(size_t nbytes) {
  constexpr size_t kSmall = size_t(1) << 20, kSmallRound = 512, kLargeRound = size_t(2) << 20;
  if (nbytes == 0) return kSmallRound;
  if (nbytes < kSmall) return (nbytes + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (nbytes + kLargeRound - 1) / kLargeRound * kLargeRound;
}

void* alloc_bytes(Device d, size_t nbytes) {
  if (d.is_cpu()) return cpu_alloc(nbytes);
#if LESEG_WITH_CUDA
  if (!cuda_available()) fail_no_cuda("allocation");
  return cuda_alloc(d, nbytes);
#else
  fail_no_cuda("allocation");
#endif
}

void free_bytes(Device d, void* p) {
  if (d.is_cpu()) return cpu_free(p);
#if LESEG_WITH_CUDA
  cuda_free(p);
#endif
}

MemoryStats memory_stats(Device d) {
  if (d.is_cpu()) {
    auto& pool = cpu_pool();
    std::lock_guard<std::mutex> lk(pool.mu);
    return pool.stats;
  }
#if LESEG_WITH_CUDA
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  return pool.stats[d.index];
#else
  return {};
#endif
}

void reset_peak_memory(Device d) {
  if (d.is_cpu()) {
    auto& pool = cpu_pool();
    std::lock_guard<std::mutex> lk(pool.mu);
    pool.stats.peak = pool.stats.in_use;
    return;
  }
#if LESEG_WITH_CUDA
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  pool.stats[d.index].peak = pool.stats[d.index].in_use;
#endif
}

void empty_cache(Device d) {
#if LESEG_WITH_CUDA
  if (d.is_cuda()) {
    auto& pool = cuda_pool();
    std::lock_guard<std::mutex> lk(pool.mu);
    synchronize(d);
    release_cached_locked(pool, d.index);
  }
#endif
}

void* alloc_pinned(size_t nbytes) {
#if LESEG_WITH_CUDA
  if (cuda_available()) {
    void* p = nullptr;
    cudaError_t e = cudaHostAlloc(&p, nbytes ? nbytes : 1, cudaHostAllocDefault);
    if (e != cudaSuccess) {
      cudaGetLastError();
      LESEG_FAIL("pinned host allocation of ", human(nbytes), " failed: ", cudaGetErrorString(e));
    }
    return p;
  }
#endif
  return cpu_alloc(nbytes);
}

void free_pinned(void* p) {
#if LESEG_WITH_CUDA
  if (cuda_available()) {
    cudaFreeHost(p);
    return;
  }
#endif
  cpu_free(p);
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, nbytes);
    return;
  }
#if LESEG_WITH_CUDA
  cudaMemcpyKind kind = dst_dev.is_cpu() ? cudaMemcpyDeviceToHost
                        : src_dev.is_cpu() ? cudaMemcpyHostToDevice
                                           : cudaMemcpyDeviceToDevice;
  Device d = dst_dev.is_cuda() ? dst_dev : src_dev;
  CudaDeviceGuard guard(d);
  auto stream = static_cast<cudaStream_t>(current_stream(d));
  cudaError_t e = cudaSuccess;
  if (kind == cudaMemcpyDeviceToDevice && src_dev.index != dst_dev.index) {
    // Across devices: the source's pending writes run on the source's stream, which the destination's stream does
    // not order against; finish them first, then copy peer-to-peer on the destination's stream.
    {
      CudaDeviceGuard src_guard(src_dev);
      e = cudaStreamSynchronize(static_cast<cudaStream_t>(current_stream(src_dev)));
    }
    if (e == cudaSuccess) e = cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, nbytes, stream);
  } else {
    e = cudaMemcpyAsync(dst, src, nbytes, kind, stream);
  }
  if (e == cudaSuccess && kind == cudaMemcpyDeviceToHost) e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) LESEG_FAIL("copy of ", nbytes, " bytes ", src_dev.str(), " -> ", dst_dev.str(), " failed: ", cudaGetErrorString(e));
#else
  fail_no_cuda("copy");
#endif
}

Storage::Storage(size_t nbytes, Device d) : nbytes_(nbytes), device_(d) { data_ = alloc_bytes(d, nbytes); }
Storage::~Storage() { free_bytes(device_, data_); }

}  // namespace leseg
