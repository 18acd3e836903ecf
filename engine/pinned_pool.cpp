// SPDX-License-Identifier: Apache-2.0
#include "engine/pinned_pool.h"

#include <cstring>

#include "engine/allocator.h"
#include "engine/error.h"
#include "engine/host_sync.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace leseg {

size_t pinned_size_class(size_t n) {
  size_t c = 4096;
  while (c < n) c <<= 1;
  return c;
}

StreamId PinnedBlockPool::host_stream() {
  static char tag;
  return &tag;
}

PinnedBlockPool::PinnedBlockPool(StreamEventModel* model, System sys) : pool_(model), sys_(sys) {}

PinnedBlockPool::~PinnedBlockPool() {
  std::lock_guard<std::mutex> lk(mu_);
  pool_.drain();
  pool_.release_free();
  for (auto& [p, n] : all_) sys_.free(p);
}

void* PinnedBlockPool::allocate(size_t nbytes) {
  const size_t c = pinned_size_class(nbytes);
  std::lock_guard<std::mutex> lk(mu_);
  if (void* p = pool_.take(c, host_stream())) return p;
  void* p = sys_.alloc(c);
  ++system_allocs_;
  all_.emplace_back(p, c);
  pool_.add_live(p, c, host_stream());
  return p;
}

void PinnedBlockPool::record_stream(void* p, StreamId s) {
  std::lock_guard<std::mutex> lk(mu_);
  pool_.record_stream(p, s);
}

void PinnedBlockPool::free(void* p) {
  std::lock_guard<std::mutex> lk(mu_);
  LESEG_CHECK(pool_.free(p), "pinned pool: free of ", p, ", which is not a live pinned block (double free?)");
}

void PinnedBlockPool::empty_cache() {
  std::lock_guard<std::mutex> lk(mu_);
  pool_.drain();
  for (auto& [p, n] : pool_.release_free()) {
    sys_.free(p);
    for (size_t k = 0; k < all_.size(); ++k)
      if (all_[k].first == p) {
        all_[k] = all_.back();
        all_.pop_back();
        break;
      }
  }
}

size_t PinnedBlockPool::system_allocs() const {
  std::lock_guard<std::mutex> lk(mu_);
  return system_allocs_;
}
size_t PinnedBlockPool::cached_blocks() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pool_.free_blocks();
}
size_t PinnedBlockPool::pending_blocks() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pool_.pending_blocks();
}
size_t PinnedBlockPool::live_blocks() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pool_.live_blocks();
}

namespace {
// Host-synchronous copies (no device): every event has completed when it is recorded.
class ImmediateEvents final : public StreamEventModel {
 public:
  EventId record(StreamId) override { return reinterpret_cast<EventId>(uintptr_t(1)); }
  bool query(EventId) override { return true; }
  void wait(EventId) override {}
  void release(EventId) override {}
};

#if LESEG_WITH_CUDA
void cuda_fail(const char* what, cudaError_t r) {
  cudaGetLastError();
  // A sticky error (an illegal address, a device-side assert) comes from whatever kernel faulted earlier, usually
  // the step that ran before this call, not from this call: say so, and how to find the kernel.
  const bool sticky = r == cudaErrorIllegalAddress || r == cudaErrorAssert || r == cudaErrorLaunchFailure ||
                      r == cudaErrorIllegalInstruction || r == cudaErrorMisalignedAddress;
  LESEG_FAIL(what, ": ", cudaGetErrorString(r),
             sticky ? " (an earlier kernel faulted, most likely in the step before this copy; LESEG_CUDA_SYNC=1 names "
                      "the kernel)"
                    : "");
}

class CudaEvents final : public StreamEventModel {
 public:
  EventId record(StreamId s) override {
    cudaEvent_t e = nullptr;
    cudaError_t r = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    if (r == cudaSuccess) r = cudaEventRecord(e, static_cast<cudaStream_t>(s));
    if (r != cudaSuccess) cuda_fail("pinned staging: recording a stream event failed", r);
    return e;
  }
  bool query(EventId e) override {
    const cudaError_t r = cudaEventQuery(static_cast<cudaEvent_t>(e));
    if (r == cudaErrorNotReady) {
      cudaGetLastError();
      return false;
    }
    if (r != cudaSuccess) cuda_fail("pinned staging: stream event query failed", r);
    return true;
  }
  void wait(EventId e) override {
    if (host_sync_counting()) note_host_sync(HostSyncKind::Stream, Device::cuda(), "pinned staging: waiting for a copy's event");
    const cudaError_t r = cudaEventSynchronize(static_cast<cudaEvent_t>(e));
    if (r != cudaSuccess) cuda_fail("pinned staging: stream event wait failed", r);
  }
  void release(EventId e) override {
    if (cudaEventDestroy(static_cast<cudaEvent_t>(e)) != cudaSuccess) cudaGetLastError();
  }
};

class CudaTransfer final : public TransferModel {
 public:
  explicit CudaTransfer(Device d) : d_(d) {
    CudaDeviceGuard g(d_);
    cudaStream_t s = nullptr;
    const cudaError_t r = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (r != cudaSuccess) cuda_fail("prefetch: creating the copy stream failed", r);
    copy_ = s;
  }
  ~CudaTransfer() override {
    CudaDeviceGuard g(d_);
    if (cudaStreamSynchronize(static_cast<cudaStream_t>(copy_)) != cudaSuccess) cudaGetLastError();
    if (cudaStreamDestroy(static_cast<cudaStream_t>(copy_)) != cudaSuccess) cudaGetLastError();
  }
  StreamId compute_stream() override { return current_stream(d_); }
  StreamId copy_stream() override { return copy_; }
  void copy_async(void* dst, const void* src, size_t n, StreamId s) override {
    if (n == 0) return;
    CudaDeviceGuard g(d_);
    const cudaError_t r = cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s));
    if (r != cudaSuccess) cuda_fail("prefetch: asynchronous host->device copy failed", r);
  }
  void stream_wait(StreamId waiter, EventId e) override {
    CudaDeviceGuard g(d_);
    const cudaError_t r = cudaStreamWaitEvent(static_cast<cudaStream_t>(waiter), static_cast<cudaEvent_t>(e), 0);
    if (r != cudaSuccess) cuda_fail("prefetch: stream wait on the copy's event failed", r);
  }
  Device device() const override { return d_; }
  EventId record(StreamId s) override {
    CudaDeviceGuard g(d_);
    return ev_.record(s);
  }
  bool query(EventId e) override { return ev_.query(e); }
  void wait(EventId e) override { ev_.wait(e); }
  void release(EventId e) override { ev_.release(e); }

 private:
  Device d_;
  StreamId copy_ = nullptr;
  CudaEvents ev_;
};
#endif
}  // namespace

#if LESEG_WITH_CUDA
std::unique_ptr<TransferModel> make_cuda_transfer_model(Device d) {
  LESEG_CHECK(d.is_cuda(), "make_cuda_transfer_model: ", d.str(), " is not a CUDA device");
  return std::make_unique<CudaTransfer>(d);
}
#endif

PinnedBlockPool& pinned_pool() {
  static PinnedBlockPool* pool = [] {
    StreamEventModel* model = nullptr;
#if LESEG_WITH_CUDA
    if (cuda_available()) model = new CudaEvents();
#endif
    if (!model) model = new ImmediateEvents();
    return new PinnedBlockPool(model, PinnedBlockPool::System{&alloc_pinned, &free_pinned});
  }();
  return *pool;
}

// ---- HostTransferModel ----------------------------------------------------------------------------------------------
namespace {
StreamId tag_stream(int i) {
  static char tags[2];
  return &tags[i];
}
}  // namespace

HostTransferModel::HostTransferModel() : compute_(tag_stream(0)), copy_(tag_stream(1)) {}
HostTransferModel::~HostTransferModel() = default;

void HostTransferModel::copy_async(void* dst, const void* src, size_t n, StreamId s) {
  streams_[s].ops.push_back(Copy{dst, src, n});
}

void HostTransferModel::run_until(StreamId s, int64_t at) {
  Stream& st = streams_[s];
  for (; st.done < at && st.done < int64_t(st.ops.size()); ++st.done) {
    const Copy& c = st.ops[size_t(st.done)];
    if (c.n) std::memcpy(c.dst, c.src, c.n);
  }
}

void HostTransferModel::run(StreamId s) { run_until(s, int64_t(streams_[s].ops.size())); }
int64_t HostTransferModel::queued(StreamId s) const {
  auto it = streams_.find(s);
  return it == streams_.end() ? 0 : int64_t(it->second.ops.size());
}
int64_t HostTransferModel::done(StreamId s) const {
  auto it = streams_.find(s);
  return it == streams_.end() ? 0 : it->second.done;
}

EventId HostTransferModel::record(StreamId s) {
  events_[next_event_] = {s, int64_t(streams_[s].ops.size())};
  return reinterpret_cast<EventId>(next_event_++);
}
bool HostTransferModel::query(EventId e) {
  const auto& [s, at] = events_.at(reinterpret_cast<uintptr_t>(e));
  return streams_[s].done >= at;
}
void HostTransferModel::wait(EventId e) {
  ++host_waits_;
  const auto [s, at] = events_.at(reinterpret_cast<uintptr_t>(e));
  run_until(s, at);
}
// The compute "stream" is the host: its later work runs after e once the host has waited for it.
void HostTransferModel::stream_wait(StreamId waiter, EventId e) {
  const auto [s, at] = events_.at(reinterpret_cast<uintptr_t>(e));
  if (waiter == compute_) run_until(s, at);
  else LESEG_CHECK(s == waiter, "HostTransferModel: only the host waits for another stream's event");
}
void HostTransferModel::release(EventId e) {
  LESEG_CHECK(events_.erase(reinterpret_cast<uintptr_t>(e)) == 1, "HostTransferModel: release of an unknown event");
}

}  // namespace leseg
