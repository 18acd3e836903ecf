// SPDX-License-Identifier: Apache-2.0
// Pinned host staging for host->device copies, and the stream model an asynchronous copy needs.
//
// PinnedBlockPool (PyTorch's CachingHostAllocator design): page-locked host blocks (cudaHostAlloc), rounded to a size
// class (pinned_size_class) and cached for reuse. A copy engine reads a pinned block asynchronously, so the host must
// not refill it before the copy ran: record_stream(p, s) notes that work queued on stream s reads p; free(p) records
// an event on each such stream and the block is cached again only once every event has completed (queried at the
// next allocate, never waited for). The bookkeeping is engine/stream_pool.h's StreamBlockPool with the host as the
// owning "stream". CPU build or no device: ordinary 64-byte aligned memory under the same bookkeeping.
//
// TransferModel: what a prefetcher needs from the device: a compute stream and a copy stream, an asynchronous copy
// into device memory on a stream, events, and "stream s waits for event e" (no host wait). CudaTransferModel is the
// real one (a non-blocking copy stream of its own). HostTransferModel is the faithful CPU model: every stream is a
// queue of copies that runs only when the host waits for one of its events (or when a test runs it), so a CPU test
// sees exactly the bytes a GPU would copy at that time (tests/engine/pinned_pool_test.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/device.h"
#include "engine/stream_pool.h"

namespace leseg {

// Bytes a pinned request of n bytes occupies: the next power of two, at least 4 KiB.
size_t pinned_size_class(size_t n);

class PinnedBlockPool {
 public:
  struct System {
    void* (*alloc)(size_t);
    void (*free)(void*);
  };
  // model: events on the streams that read the blocks; sys: where blocks come from (alloc_pinned / free_pinned).
  PinnedBlockPool(StreamEventModel* model, System sys);
  ~PinnedBlockPool();  // waits for pending blocks, then hands every cached block back to the system
  PinnedBlockPool(const PinnedBlockPool&) = delete;
  PinnedBlockPool& operator=(const PinnedBlockPool&) = delete;

  void* allocate(size_t nbytes);
  // Work queued on `s` so far (or to be queued before free) reads `p`.
  void record_stream(void* p, StreamId s);
  // Gives `p` back: cached at once when no stream read it, else once the events recorded now have completed.
  // A pointer this pool did not hand out (or a double free) is an error.
  void free(void* p);
  // Waits for the pending blocks and hands every cached block back to the system.
  void empty_cache();

  size_t system_allocs() const;  // blocks obtained from the system so far
  size_t cached_blocks() const;  // free, reusable now
  size_t pending_blocks() const; // freed, waiting for their events
  size_t live_blocks() const;

  static StreamId host_stream();  // the owner of every block (the host, which uses them synchronously)

 private:
  mutable std::mutex mu_;
  StreamBlockPool pool_;
  System sys_;
  size_t system_allocs_ = 0;
  std::vector<std::pair<void*, size_t>> all_;  // every block from the system (handed back by empty_cache / dtor)
};

// The process-wide pool: pinned memory and CUDA events when a CUDA device is available, else aligned memory and
// host-synchronous "events". Never destroyed (pinned memory outlives static destruction order issues).
PinnedBlockPool& pinned_pool();

class TransferModel : public StreamEventModel {
 public:
  virtual StreamId compute_stream() = 0;  // where the consumer's work runs (CUDA: the thread's current stream)
  virtual StreamId copy_stream() = 0;
  // Queues a copy of n bytes from pinned host memory `src` to `dst` (device memory of the model's device) on `s`.
  virtual void copy_async(void* dst, const void* src, size_t n, StreamId s) = 0;
  // Work queued on `waiter` from now on runs after `e` completed; the host does not wait.
  virtual void stream_wait(StreamId waiter, EventId e) = 0;
  virtual Device device() const = 0;  // where copy_async's destinations live
};

#if LESEG_WITH_CUDA
// A CUDA device: its own non-blocking copy stream (no implicit ordering with the legacy default stream).
std::unique_ptr<TransferModel> make_cuda_transfer_model(Device d);
#endif

// The CPU model (see the header comment). device() is the CPU; the host is the compute stream.
class HostTransferModel final : public TransferModel {
 public:
  HostTransferModel();
  ~HostTransferModel() override;
  StreamId compute_stream() override { return compute_; }
  StreamId copy_stream() override { return copy_; }
  void copy_async(void* dst, const void* src, size_t n, StreamId s) override;
  void stream_wait(StreamId waiter, EventId e) override;
  Device device() const override { return Device::cpu(); }
  EventId record(StreamId s) override;
  bool query(EventId e) override;
  void wait(EventId e) override;
  void release(EventId e) override;

  // Test hooks: run every copy queued on s; copies queued / run so far; events alive.
  void run(StreamId s);
  int64_t queued(StreamId s) const;
  int64_t done(StreamId s) const;
  size_t live_events() const { return events_.size(); }
  int64_t host_waits() const { return host_waits_; }

 private:
  struct Copy {
    void* dst;
    const void* src;
    size_t n;
  };
  struct Stream {
    std::vector<Copy> ops;  // every copy ever queued, in order
    int64_t done = 0;       // ops[0, done) have run
  };
  void run_until(StreamId s, int64_t at);
  StreamId compute_, copy_;
  std::map<StreamId, Stream> streams_;
  std::map<uintptr_t, std::pair<StreamId, int64_t>> events_;  // event -> (stream, ops queued when recorded)
  uintptr_t next_event_ = 1;
  int64_t host_waits_ = 0;
};

}  // namespace leseg
