// SPDX-License-Identifier: Apache-2.0
// Host synchronisation accounting. Every place the engine makes the host wait for a device goes through
// note_host_sync(): device->host copies (Tensor::to_vector, item(), checkpoints), synchronize(Device), the error-slot
// read (check_device_errors) and the sparse-structure sizes that the host must learn (coordinate-set and kernel-map
// counts). On a CPU run the same calls happen at the places that *would* synchronise on a GPU (a CPU tensor read into a
// host vector stands for a device->host copy), so the accounting is testable without a device.
//
// A HostSyncCounter (RAII, per thread, nestable) records what happened while it lives; a SyncFreeRegion marks a span
// that must not synchronise (the training step: see docs/execution.md for where its boundary is) and every sync noted
// inside one is counted as a violation, with the region's name, the sync's kind and an optional call-stack.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"

namespace leseg {

enum class HostSyncKind : uint8_t {
  Read,       // device->host copy (to_vector / item / checkpoint write)
  Stream,     // synchronize(Device) / cudaStreamSynchronize
  ErrorSlot,  // check_device_errors: the once-per-step error flag read
  Structure,  // a size the host needs to allocate the next tensor (coordinate sets, kernel maps)
};
const char* host_sync_kind_name(HostSyncKind k);

struct HostSyncEvent {
  HostSyncKind kind = HostSyncKind::Read;
  std::string what;    // the mechanism ("to_vector<f64> 8 B", "coord_hash_insert: unique count")
  std::string region;  // the innermost SyncFreeRegion's name, "" outside any
  bool real = false;   // true: the host really waited for a CUDA device; false: a CPU run's would-be sync
  std::vector<std::string> stack;  // call-stack frames, when the counter asked for them
};

// Called by the engine at every synchronisation point. Call sites that build a description guard it with
// host_sync_counting() so that nothing is formatted when no counter is installed on this thread.
void note_host_sync(HostSyncKind kind, Device d, const std::string& what);
bool host_sync_counting();

class HostSyncCounter {
 public:
  explicit HostSyncCounter(bool capture_stacks = false);
  ~HostSyncCounter();
  HostSyncCounter(const HostSyncCounter&) = delete;
  HostSyncCounter& operator=(const HostSyncCounter&) = delete;

  int64_t total() const { return int64_t(events_.size()); }
  int64_t inside_regions() const;  // syncs noted while a SyncFreeRegion was open: each is a violation
  int64_t count(HostSyncKind k) const;
  const std::vector<HostSyncEvent>& events() const { return events_; }
  // One line per event (kind, region, mechanism, real/would-be) followed by its stack, for test failures and
  // `leseg train --count-syncs`-style diagnostics.
  std::string report(bool only_inside_regions = false) const;
  void clear() { events_.clear(); }

 private:
  friend void note_host_sync(HostSyncKind, Device, const std::string&);
  bool stacks_;
  HostSyncCounter* prev_;
  std::vector<HostSyncEvent> events_;
};

// A span that must not synchronise the host. Regions nest (the innermost name is recorded).
class SyncFreeRegion {
 public:
  explicit SyncFreeRegion(const char* name);
  ~SyncFreeRegion();
  SyncFreeRegion(const SyncFreeRegion&) = delete;
  SyncFreeRegion& operator=(const SyncFreeRegion&) = delete;

 private:
  const char* prev_;
};

// Names the syncs noted while it lives: their `what` starts with "<label>: " (the innermost label), so that a report
// says whose read it is ("trainer: step values", "checkpoint").
class HostSyncLabel {
 public:
  explicit HostSyncLabel(const char* label);
  ~HostSyncLabel();
  HostSyncLabel(const HostSyncLabel&) = delete;
  HostSyncLabel& operator=(const HostSyncLabel&) = delete;

 private:
  const char* prev_;
};

// Reads of tensors that are host memory on every build, not stand-ins for device tensors: the batch's host original
// (io::loader::Batch::host()) and index sets a regime builds on the host from it. Inside this scope a read of a CPU
// tensor is not counted; a read from a CUDA device still is (it is a real synchronisation). Use it only around such
// reads: on a CPU run it would also hide a read of a tensor that stands for a device tensor.
class HostMemoryRead {
 public:
  HostMemoryRead();
  ~HostMemoryRead();
  HostMemoryRead(const HostMemoryRead&) = delete;
  HostMemoryRead& operator=(const HostMemoryRead&) = delete;

 private:
  bool prev_;
};

namespace detail {
// Storage-to-storage copies between two CPU tensors stand for device->device copies on a GPU run, not host reads:
// engine/tensor.cpp opens this scope around them so that copy_bytes does not count them.
struct DeviceCopyScope {
  DeviceCopyScope();
  ~DeviceCopyScope();
  DeviceCopyScope(const DeviceCopyScope&) = delete;
  DeviceCopyScope& operator=(const DeviceCopyScope&) = delete;
  bool prev;
};
bool in_device_copy();
}  // namespace detail

}  // namespace leseg
