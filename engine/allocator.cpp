// SPDX-License-Identifier: Apache-2.0
#include "engine/allocator.h"
#include "engine/allocator_cpu.h"
#include "engine/profiler.h"

#include <string>

#include "engine/host_sync.h"
#include "engine/stream_pool.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

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
// The caching allocator of engine/allocator_cpu.h (contract there).
constexpr size_t kCpuLarge = size_t(1) << 20, kCpuLargeRound = size_t(64) << 10;
constexpr size_t kCpuSegmentRound = size_t(2) << 20;  // a transparent huge page

size_t cpu_block_size(size_t nbytes) {
  if (nbytes < kCpuLarge) return nbytes == 0 ? kCpuAlignment : (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  return (nbytes + kCpuLargeRound - 1) / kCpuLargeRound * kCpuLargeRound;
}

// A piece of a segment (one system allocation of >= 1 MiB). The pieces of a segment are a doubly linked list in
// address order; a segment is whole when its only piece has neither neighbour.
struct LargeBlock {
  char* ptr;
  size_t size;
  bool free;
  LargeBlock* prev;
  LargeBlock* next;
  bool whole_segment() const { return prev == nullptr && next == nullptr; }
};
struct LargeBySize {
  bool operator()(const LargeBlock* a, const LargeBlock* b) const {
    return a->size != b->size ? a->size < b->size : std::less<const char*>()(a->ptr, b->ptr);
  }
};

struct CpuPool {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;  // small blocks handed out -> size
  std::multimap<size_t, void*> free_blocks;  // cached small blocks by size
  std::unordered_map<void*, LargeBlock*> large_live;  // large pieces handed out
  std::set<LargeBlock*, LargeBySize> large_free;  // free large pieces, best fit first
  size_t cached = 0;  // bytes in free small blocks and free large pieces
  MemoryStats stats;
  bool caching = true;
  bool split = true;  // large pieces: best fit and split (LESEG_CPU_CACHE_SPLIT=0: whole blocks of <= 1/8 more)
  // No fixed cap by default: the release policy below keeps what the process holds within `slack` of its
  // high-water mark. A 4 GiB cap (the old default) sent most of a 1M-voxel MinkUNet14A step's 7.4 GiB back to the
  // system every step, and the next step paid the page faults again: 40.8 against 31.3 CPU s per step.
  size_t max_cached = SIZE_MAX;
  size_t slack = size_t(64) << 20;  // cached bytes allowed above the peak in use when memory must be taken
  // The peak in use that the release policy keeps to: the process's high-water mark, which reset_peak_memory does
  // not touch (stats.peak is a statistic a caller may reset every step; used here, a reset made each step's first
  // allocations return the cache to the system and take fresh pages again: 122 system allocations per MinkUNet14A
  // step). empty_cache resets it.
  size_t high_water = 0;
  CpuPool() {
    const char* e = std::getenv("LESEG_CPU_CACHE");
    caching = !(e && std::strcmp(e, "0") == 0);
    if (const char* s = std::getenv("LESEG_CPU_CACHE_SPLIT")) split = std::strcmp(s, "0") != 0;
    if (const char* m = std::getenv("LESEG_CPU_CACHE_MAX_MB")) max_cached = size_t(std::strtoull(m, nullptr, 10)) << 20;
    if (const char* m = std::getenv("LESEG_CPU_CACHE_SLACK_MB")) slack = size_t(std::strtoull(m, nullptr, 10)) << 20;
  }
  void note_in_use(size_t n) {
    stats.in_use += n;
    stats.peak = std::max(stats.peak, stats.in_use);
    high_water = std::max(high_water, stats.in_use);
  }
};
CpuPool& cpu_pool() {
  static CpuPool* p = new CpuPool();  // leaked on purpose: outlives static tensors at exit
  return *p;
}

void* cpu_system_alloc(size_t n) {
  if (n >= kCpuLarge) {
    // huge-page aligned when n is a multiple of 2 MiB (a segment), else page aligned (n is a multiple of 64 KiB)
    void* p = std::aligned_alloc(n % kCpuSegmentRound == 0 ? kCpuSegmentRound : 4096, n);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, n, MADV_HUGEPAGE);  // advice only: ignored where THP is off
#endif
    return p;
  }
  return std::aligned_alloc(kCpuAlignment, n);
}

// Returns a free large piece that is a whole segment to the system (pool.mu held; `b` already out of large_free).
void cpu_release_segment_locked(CpuPool& pool, LargeBlock* b) {
  std::free(b->ptr);
  pool.cached -= b->size;
  pool.stats.reserved -= b->size;
  delete b;
}

// Returns whole free segments, largest first, while `more` says so (pool.mu held).
template <class More>
void cpu_release_segments_locked(CpuPool& pool, More more) {
  for (auto it = pool.large_free.end(); it != pool.large_free.begin() && more();) {
    --it;
    if (!(*it)->whole_segment()) continue;
    LargeBlock* b = *it;
    it = pool.large_free.erase(it);
    cpu_release_segment_locked(pool, b);
  }
}

// Returns every cached small block and every whole free segment to the system (pool.mu held). Free pieces of a
// segment that still has a piece in use stay (they go back with the segment).
void cpu_release_cached_locked(CpuPool& pool) {
  for (auto& [sz, p] : pool.free_blocks) {
    std::free(p);
    pool.stats.reserved -= sz;
    pool.cached -= sz;
  }
  pool.free_blocks.clear();
  cpu_release_segments_locked(pool, [] { return true; });
}

// A large request (n a multiple of 64 KiB, >= 1 MiB) from the cache: the smallest free piece that fits, split when
// at least 1 MiB would be left over (the rest stays cached); nullptr on a miss (pool.mu held).
void* cpu_large_from_cache(CpuPool& pool, size_t n) {
  LargeBlock probe{nullptr, n, true, nullptr, nullptr};
  auto it = pool.large_free.lower_bound(&probe);
  if (it == pool.large_free.end()) return nullptr;
  LargeBlock* b = *it;
  if (!pool.split && b->size > n + n / 8) return nullptr;
  pool.large_free.erase(it);
  pool.cached -= b->size;
  if (pool.split && b->size - n >= kCpuLarge) {
    auto* rest = new LargeBlock{b->ptr + n, b->size - n, true, b, b->next};
    if (b->next) b->next->prev = rest;
    b->next = rest;
    b->size = n;
    pool.large_free.insert(rest);
    pool.cached += rest->size;
  }
  b->free = false;
  pool.large_live[b->ptr] = b;
  pool.note_in_use(b->size);
  return b->ptr;
}

// A new segment for a large request that missed: rounded up to 2 MiB (split as above), or exact without splitting.
void* cpu_large_new_segment(CpuPool& pool, size_t n) {
  const size_t seg = pool.split ? (n + kCpuSegmentRound - 1) / kCpuSegmentRound * kCpuSegmentRound : n;
  void* p = cpu_system_alloc(seg);
  if (!p && pool.cached > 0) {
    cpu_release_cached_locked(pool);
    p = cpu_system_alloc(seg);
  }
  if (!p) return nullptr;
  auto* b = new LargeBlock{static_cast<char*>(p), seg, true, nullptr, nullptr};
  pool.stats.reserved += seg;
  pool.stats.num_system_allocs++;
  pool.large_free.insert(b);
  pool.cached += seg;
  return cpu_large_from_cache(pool, n);
}

void cpu_large_free_locked(CpuPool& pool, LargeBlock* b) {
  pool.stats.in_use -= b->size;
  b->free = true;
  auto uncache = [&](LargeBlock* x) {  // a free neighbour leaves the cache before it is merged
    pool.large_free.erase(x);
    pool.cached -= x->size;
  };
  auto absorb_next = [](LargeBlock* a) {  // a takes a->next (both free) and the list loses a->next
    LargeBlock* nx = a->next;
    a->size += nx->size;
    a->next = nx->next;
    if (nx->next) nx->next->prev = a;
    delete nx;
  };
  if (b->next && b->next->free) {
    uncache(b->next);
    absorb_next(b);
  }
  if (b->prev && b->prev->free) {  // the free neighbour before absorbs b
    b = b->prev;
    uncache(b);
    absorb_next(b);
  }
  if (b->whole_segment() && pool.cached + b->size > pool.max_cached) {
    pool.cached += b->size;  // cpu_release_segment_locked takes it off again
    cpu_release_segment_locked(pool, b);
    return;
  }
  pool.large_free.insert(b);
  pool.cached += b->size;
}

void* cpu_alloc(size_t nbytes) {
  auto& pool = cpu_pool();
  const size_t n = pool.caching ? cpu_block_size(nbytes)
                                : (nbytes == 0 ? kCpuAlignment : (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment);
  if (profiler::enabled()) profiler::note_alloc(n);
  std::lock_guard<std::mutex> lk(pool.mu);
  pool.stats.num_allocs++;
  const bool large = pool.caching && n >= kCpuLarge;
  if (large) {
    if (void* p = cpu_large_from_cache(pool, n)) return p;
  } else if (pool.caching) {
    auto it = pool.free_blocks.lower_bound(n);
    // small blocks: at most twice the request
    if (it != pool.free_blocks.end() && it->first <= 2 * n) {
      const size_t sz = it->first;
      void* p = it->second;
      pool.free_blocks.erase(it);
      pool.cached -= sz;
      pool.sizes[p] = sz;
      pool.note_in_use(sz);
      return p;
    }
  }
  // A miss: keep what the process holds near its peak in use. Cached blocks beyond the slack go back to the
  // system, largest first, before new memory is taken (otherwise blocks of sizes not asked for again pile up: a
  // 14A step held 1.24 GiB for an 806 MiB peak). Large pieces go back only as whole segments.
  auto over = [&] { return pool.stats.reserved + n > std::max(pool.high_water, pool.stats.in_use + n) + pool.slack; };
  // Whole free segments go first; small blocks only for a small miss (a large miss that frees every small block
  // gains at most a few MiB and makes the next step's small requests miss: 110 per MinkUNet14A step).
  if (over()) cpu_release_segments_locked(pool, over);
  while (!large && !pool.free_blocks.empty() && over()) {
    auto last = std::prev(pool.free_blocks.end());
    std::free(last->second);
    pool.cached -= last->first;
    pool.stats.reserved -= last->first;
    pool.free_blocks.erase(last);
  }
  void* p = nullptr;
  if (large) {
    p = cpu_large_new_segment(pool, n);
  } else {
    p = cpu_system_alloc(n);
    if (!p && pool.cached > 0) {
      cpu_release_cached_locked(pool);
      p = cpu_system_alloc(n);
    }
    if (p) {
      pool.sizes[p] = n;
      pool.stats.reserved += n;
      pool.note_in_use(n);
      pool.stats.num_system_allocs++;
    }
  }
  if (!p)
    LESEG_FAIL("CPU out of memory: tried to allocate ", human(n), " (", n, " bytes); in use ",
               human(pool.stats.in_use), ", peak ", human(pool.stats.peak));
  return p;
}
void cpu_free(void* p) {
  if (!p) return;
  auto& pool = cpu_pool();
  {
    std::lock_guard<std::mutex> lk(pool.mu);
    if (auto lt = pool.large_live.find(p); lt != pool.large_live.end()) {
      LargeBlock* b = lt->second;
      pool.large_live.erase(lt);
      cpu_large_free_locked(pool, b);
      return;
    }
    auto it = pool.sizes.find(p);
    if (it != pool.sizes.end()) {
      const size_t sz = it->second;
      pool.stats.in_use -= sz;
      pool.sizes.erase(it);
      if (pool.caching && pool.cached + sz <= pool.max_cached) {
        pool.free_blocks.emplace(sz, p);
        pool.cached += sz;
        return;
      }
      pool.stats.reserved -= sz;
    }
  }
  std::free(p);
}

#if LESEG_WITH_CUDA
// ---- CUDA caching allocator ----------------------------------------------------------------------
// Blocks are rounded to a size class. The stream semantics live in StreamBlockPool (engine/stream_pool.h), one per
// device: a freed block is parked for the stream it was allocated on, at once when only that stream used it (stream
// order protects the next user), or after the events recorded on every other stream that used it (record_stream)
// have completed. Best fit, refusing blocks more than twice the request so that small tensors don't pin big ones.
// cudaMalloc and cudaEventCreate count as "potentially unsafe" during a stream capture: the capturing thread may call
// them only in relaxed mode (they are not stream work; the graph keeps the pointer, and the allocator keeps the block
// for the graph: stream_pool.h's graph pools). PyTorch's allocator does the same.
struct RelaxedCaptureMode {
  cudaStreamCaptureMode prev = cudaStreamCaptureModeRelaxed;
  RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&prev); }
  ~RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&prev); }
  RelaxedCaptureMode(const RelaxedCaptureMode&) = delete;
  RelaxedCaptureMode& operator=(const RelaxedCaptureMode&) = delete;
};

class CudaEventModel final : public StreamEventModel {
 public:
  EventId record(StreamId s) override {
    RelaxedCaptureMode relaxed;
    cudaEvent_t e = nullptr;
    cudaError_t r = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    if (r == cudaSuccess) r = cudaEventRecord(e, static_cast<cudaStream_t>(s));
    if (r != cudaSuccess) {
      cudaGetLastError();
      LESEG_FAIL("caching allocator: recording a stream event failed: ", cudaGetErrorString(r));
    }
    return e;
  }
  bool query(EventId e) override {
    cudaError_t r = cudaEventQuery(static_cast<cudaEvent_t>(e));
    if (r == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    if (r != cudaSuccess) {
      cudaGetLastError();
      LESEG_FAIL("caching allocator: stream event query failed: ", cudaGetErrorString(r));
    }
    return true;
  }
  void wait(EventId e) override {
    if (host_sync_counting()) note_host_sync(HostSyncKind::Stream, Device::cuda(), "caching allocator: waiting for a block's stream event");
    cudaError_t r = cudaEventSynchronize(static_cast<cudaEvent_t>(e));
    if (r != cudaSuccess) {
      cudaGetLastError();
      LESEG_FAIL("caching allocator: stream event wait failed: ", cudaGetErrorString(r));
    }
  }
  void release(EventId e) override {
    if (cudaEventDestroy(static_cast<cudaEvent_t>(e)) != cudaSuccess) cudaGetLastError();
  }
};

struct CudaPool {
  std::mutex mu;
  CudaEventModel events;
  std::unordered_map<int, std::unique_ptr<StreamBlockPool>> blocks;  // device -> pool
  std::unordered_map<void*, int> device_of;                          // every block the pools know -> its device
  std::unordered_map<int, MemoryStats> stats;
  StreamBlockPool& pool(int device) {
    auto& p = blocks[device];
    if (!p) p = std::make_unique<StreamBlockPool>(&events);
    return *p;
  }
};
CudaPool& cuda_pool() {
  static CudaPool* p = new CudaPool();
  return *p;
}

// Frees the cached blocks of `device` (after waiting for the pending ones' events when `drain`); the caller's current
// device is restored afterwards.
void release_cached_locked(CudaPool& pool, int device, bool drain) {
  CudaDeviceGuard guard(device);
  StreamBlockPool& bp = pool.pool(device);
  if (drain) bp.drain();
  for (auto& [ptr, sz] : bp.release_free()) {
    if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();  // a sticky error is reported by the next checked call
    pool.stats[device].reserved -= sz;
    pool.device_of.erase(ptr);
  }
}

void* cuda_alloc(Device d, size_t nbytes) {
  size_t n = cuda_size_class(nbytes);
  StreamId stream = current_stream(d);
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  auto& st = pool.stats[d.index];
  st.num_allocs++;
  StreamBlockPool& bp = pool.pool(d.index);
  if (void* p = bp.take(n, stream)) {
    st.in_use += bp.size_of(p);
    st.peak = std::max(st.peak, st.in_use);
    return p;
  }
  CudaDeviceGuard guard(d);
  std::optional<RelaxedCaptureMode> relaxed;
  if (bp.capturing()) relaxed.emplace();
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    release_cached_locked(pool, d.index, /*drain=*/true);
    e = cudaMalloc(&p, n);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    LESEG_FAIL("CUDA out of memory on cuda:", d.index, ": tried to allocate ", human(n), " (", nbytes,
               " bytes requested); in use ", human(st.in_use), ", reserved ", human(st.reserved),
               ", device free ", human(free_b), " of ", human(total_b), " (", cudaGetErrorString(e), ")",
               bp.capturing() ? "; a CUDA-graph capture is open, so cached blocks could not be returned" : "");
  }
  st.num_system_allocs++;
  st.reserved += n;
  st.in_use += n;
  st.peak = std::max(st.peak, st.in_use);
  bp.add_live(p, n, stream);
  pool.device_of[p] = d.index;
  return p;
}

void cuda_free(void* p) {
  if (!p) return;
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  auto it = pool.device_of.find(p);
  if (it == pool.device_of.end()) return;
  const int dev = it->second;
  StreamBlockPool& bp = pool.pool(dev);
  const size_t sz = bp.size_of(p);
  // Events are recorded on the block's device; a block only its own stream used needs no CUDA call at all (frees
  // also run from destructors at exit, when the runtime may be going away).
  // Frees run in destructors: they must not throw. Recording an event fails only after a device fault (a sticky
  // error); the block is then leaked rather than reused unprotected, and the fault is reported by the next checked
  // call, not by an exception that would end the process while another one unwinds.
  try {
    std::optional<CudaDeviceGuard> guard;
    if (bp.used_on_other_streams(p)) guard.emplace(dev);
    if (bp.free(p)) pool.stats[dev].in_use -= sz;
  } catch (...) {
    pool.stats[dev].in_use -= sz;
  }
}

void cuda_record_stream(void* base, int device, StreamId s) {
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  pool.pool(device).record_stream(base, s);
}
#endif

std::atomic<uint64_t> g_next_graph_pool{1};

}  // namespace

size_t cpu_size_class(size_t nbytes) { return cpu_block_size(nbytes); }
bool cpu_cache_enabled() { return cpu_pool().caching; }
size_t cpu_cached_bytes() {
  auto& pool = cpu_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  return pool.cached;
}

size_t cuda_size_class(size_t nbytes) {
  constexpr size_t kSmall = size_t(1) << 20, kSmallRound = 512, kLargeRound = size_t(2) << 20;
  if (nbytes == 0) return kSmallRound;
  if (nbytes < kSmall) return (nbytes + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (nbytes + kLargeRound - 1) / kLargeRound * kLargeRound;
}

uint64_t new_graph_pool_id() { return g_next_graph_pool.fetch_add(1); }

void begin_graph_pool(Device d, uint64_t id, kernels::StreamHandle s) {
  if (d.is_cpu()) return;
#if LESEG_WITH_CUDA
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  pool.pool(d.index).begin_capture(id, s);
#else
  (void)id, (void)s;
  fail_no_cuda("begin_graph_pool");
#endif
}

void end_graph_pool(Device d, kernels::StreamHandle s) {
  if (d.is_cpu()) return;
#if LESEG_WITH_CUDA
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  pool.pool(d.index).end_capture(s);
#else
  (void)s;
  fail_no_cuda("end_graph_pool");
#endif
}

void release_graph_pool(Device d, uint64_t id) {
  if (d.is_cpu()) return;
#if LESEG_WITH_CUDA
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  StreamBlockPool& bp = pool.pool(d.index);
  LESEG_CHECK(!bp.capturing(), "release_graph_pool: a capture is open on ", d.str(),
              " (freeing device memory would invalidate it)");
  CudaDeviceGuard guard(d);
  for (auto& [ptr, sz] : bp.release_pool(id)) {
    if (cudaFree(ptr) != cudaSuccess) cudaGetLastError();
    pool.stats[d.index].reserved -= sz;
    pool.device_of.erase(ptr);
  }
#else
  (void)id;
  fail_no_cuda("release_graph_pool");
#endif
}

size_t graph_pool_blocks(Device d, uint64_t id) {
  if (d.is_cpu()) return 0;
#if LESEG_WITH_CUDA
  auto& pool = cuda_pool();
  std::lock_guard<std::mutex> lk(pool.mu);
  return pool.pool(d.index).pool_blocks(id);
#else
  (void)id;
  return 0;
#endif
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
  if (d.is_cpu()) {
    auto& pool = cpu_pool();
    std::lock_guard<std::mutex> lk(pool.mu);
    cpu_release_cached_locked(pool);
    pool.high_water = pool.stats.in_use;
    return;
  }
#if LESEG_WITH_CUDA
  if (d.is_cuda()) {
    auto& pool = cuda_pool();
    std::lock_guard<std::mutex> lk(pool.mu);
    synchronize(d);
    release_cached_locked(pool, d.index, /*drain=*/true);
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
  // A copy into host memory makes the host wait for the device (engine/host_sync.h). Between two CPU buffers it is
  // the place a GPU run would wait, unless engine/tensor.cpp marked it a storage-to-storage (device-side) copy.
  if (host_sync_counting() && dst_dev.is_cpu() && (src_dev.is_cuda() || !detail::in_device_copy()))
    note_host_sync(HostSyncKind::Read, src_dev, "copy of " + std::to_string(nbytes) + " bytes " + src_dev.str() + " -> host");
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
    const auto src_stream = static_cast<cudaStream_t>(current_stream(src_dev));
    {
      CudaDeviceGuard src_guard(src_dev);
      e = cudaStreamSynchronize(src_stream);
    }
    if (e == cudaSuccess) e = cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, nbytes, stream);
    // The source block may be freed as soon as this returns and reused on the source's stream (the caching
    // allocator parks it there): that stream waits for the copy first (an event on the destination's stream).
    if (e == cudaSuccess) {
      cudaEvent_t ev = nullptr;
      e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
      if (e == cudaSuccess) e = cudaEventRecord(ev, stream);
      if (e == cudaSuccess) {
        CudaDeviceGuard src_guard(src_dev);
        e = cudaStreamWaitEvent(src_stream, ev, 0);
      }
      if (ev) cudaEventDestroy(ev);  // legal once the wait is queued
    }
  } else {
    e = cudaMemcpyAsync(dst, src, nbytes, kind, stream);
  }
  if (e == cudaSuccess && kind == cudaMemcpyDeviceToHost) e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess) LESEG_FAIL("copy of ", nbytes, " bytes ", src_dev.str(), " -> ", dst_dev.str(), " failed: ", cudaGetErrorString(e));
#else
  fail_no_cuda("copy");
#endif
}

void record_stream(const Tensor& t, kernels::StreamHandle s) {
  if (!t.defined() || t.device().is_cpu()) return;
#if LESEG_WITH_CUDA
  // storage_id() is the Storage (engine/tensor.cpp); the allocator knows blocks by their base pointer.
  const auto* st = static_cast<const Storage*>(t.storage_id());
  cuda_record_stream(st->data(), t.device().index, s);
#else
  (void)s;
#endif
}

Storage::Storage(size_t nbytes, Device d) : nbytes_(nbytes), device_(d) { data_ = alloc_bytes(d, nbytes); }
Storage::~Storage() { free_bytes(device_, data_); }

}  // namespace leseg
