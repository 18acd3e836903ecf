// SPDX-License-Identifier: Apache-2.0
// Stream semantics of the CUDA caching allocator (PyTorch's CUDACachingAllocator design), as a class of its own so
// that the bookkeeping runs on CPU against a fake stream/event model (tests/engine/stream_pool_test.cpp):
//   - a block belongs to the stream it was allocated on; record_stream(p, s) notes every other stream that used it;
//   - free(p) of a block used only on its own stream parks it at once (stream order makes the next user on that
//     stream wait for the previous one); a block used on other streams gets one event recorded on each of them and
//     waits, pending, until every event has completed;
//   - take(size, s) serves only blocks parked for stream s whose events have all completed (queried, never waited
//     for), best fit within 2x of the request;
//   - release_free() hands back the parked blocks (empty_cache, out-of-memory), drain() waits for the pending ones;
//   - CUDA-graph memory pools (PyTorch's private pools): while a capture into pool `id` is open on stream s
//     (begin_capture), requests on s are served only from that pool's parked blocks or from the system, and every
//     block so obtained belongs to the pool for good. Freed, it parks in the pool, never in the general pools, so no
//     eager request can take memory that a replay of the graph will write; a block freed during the capture serves a
//     later request of the same capture at once (the graph runs its nodes in capture-stream order). While any
//     capture is open, take() queries no event (an event query is illegal during a capture) and release_free()
//     leaves the pools alone. A pool's parked blocks survive release_free (the graph still uses them) until
//     release_pool(id), when the graph is gone: they go back to the caller, and its live blocks become ordinary
//     blocks of their stream.
// The caching allocator (engine/allocator.cpp) owns one pool per device with the CUDA event model; the CPU tests use
// a fake model where events complete only when the test says so.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace leseg {

using StreamId = void*;  // cudaStream_t (nullptr: the legacy default stream)
using EventId = void*;   // cudaEvent_t

// What the pool needs from the device: record an event on a stream, ask whether it completed, wait for it, and
// give it back. The CUDA model wraps cudaEventRecord / cudaEventQuery / cudaEventSynchronize / cudaEventDestroy.
class StreamEventModel {
 public:
  virtual ~StreamEventModel() = default;
  virtual EventId record(StreamId s) = 0;
  virtual bool query(EventId e) = 0;
  virtual void wait(EventId e) = 0;
  virtual void release(EventId e) = 0;
};

class StreamBlockPool {
 public:
  explicit StreamBlockPool(StreamEventModel* model) : model_(model) {}
  ~StreamBlockPool();
  StreamBlockPool(const StreamBlockPool&) = delete;
  StreamBlockPool& operator=(const StreamBlockPool&) = delete;

  // A block fresh from the system, handed out on stream `s`.
  void add_live(void* p, size_t size, StreamId s);
  // A cached block served to a caller on `s` (nullptr when none fits or every fit still waits for an event).
  void* take(size_t size, StreamId s);
  // `p` (live) is used by work on stream `s`; its memory must not be reused before that work is done.
  void record_stream(void* p, StreamId s);
  // Returns the live block `p`; false when `p` is not a live block of this pool (a double free or a foreign pointer).
  // When recording an event fails (a device fault), the block is leaked, not parked, and the error is rethrown.
  bool free(void* p);
  // Parked general blocks, removed from the pool (the caller gives them back to the system). Pending ones and graph
  // pools' blocks stay; nothing is returned while a capture is open.
  std::vector<std::pair<void*, size_t>> release_free();
  // Waits for every pending block's events, then parks them (before release_free on out-of-memory / empty_cache).
  // Does nothing while a capture is open.
  void drain();

  // ---- graph pools (id > 0) ----
  using PoolId = uint64_t;
  // Opens a capture into pool `id` on stream `s` (an error when `s` already captures, or id is 0); a pool may be
  // opened again by a later capture (graphs that replay in capture order may share one).
  void begin_capture(PoolId id, StreamId s);
  void end_capture(StreamId s);  // an error when `s` has no open capture
  bool capturing() const { return !captures_.empty(); }
  // The graph that used pool `id` is gone: its parked blocks are removed and returned (the caller frees them); its
  // live and pending blocks become ordinary blocks of their streams. An error while a capture into it is open.
  std::vector<std::pair<void*, size_t>> release_pool(PoolId id);
  size_t pool_blocks(PoolId id) const;  // live, pending and parked blocks of pool `id`
  PoolId pool_of(void* p) const;        // 0: a general block (or unknown)

  size_t live_blocks() const { return live_.size(); }
  size_t leaked_blocks() const { return leaked_; }
  size_t pending_blocks() const { return pending_.size(); }
  size_t free_blocks() const;
  size_t size_of(void* p) const;  // 0 when unknown
  bool used_on_other_streams(void* p) const;  // a live block whose free() will record events

 private:
  struct Block {
    size_t size = 0;
    StreamId stream = nullptr;                   // the stream it was allocated on (its pool)
    PoolId pool = 0;                             // graph pool (0: general)
    std::unordered_set<StreamId> used_on;        // other streams (record_stream)
    std::vector<EventId> events;                 // outstanding events (pending blocks)
  };
  void process_events();  // pending blocks whose events all completed -> free pools
  void park(void* p, const Block& b);

  StreamEventModel* model_;
  std::unordered_map<void*, Block> live_;
  std::unordered_map<void*, Block> pending_;
  std::map<StreamId, std::multimap<size_t, void*>> free_;  // stream -> size -> block
  std::map<PoolId, std::multimap<size_t, void*>> pool_free_;  // graph pool -> size -> block
  std::map<StreamId, PoolId> captures_;                       // open captures: stream -> pool
  std::unordered_map<void*, Block> parked_;
  size_t leaked_ = 0;
};

// Tensor-level record_stream (torch.Tensor.record_stream): `t`'s storage is used on stream `s` of its device, so the
// caching allocator must not reuse it before the work queued on `s` so far has completed. No-op on CPU.
void record_stream(const Tensor& t, kernels::StreamHandle s);

// Per-thread current stream as an RAII scope (engine/device.h's current_stream is per thread): sets `s` on `d` for the
// scope's lifetime and restores the previous one. No-op on CPU.
class StreamGuard {
 public:
  StreamGuard(Device d, kernels::StreamHandle s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Device d_;
  kernels::StreamHandle prev_ = nullptr;
};

}  // namespace leseg
