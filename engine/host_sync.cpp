// SPDX-License-Identifier: Apache-2.0
#include "engine/host_sync.h"

#include <execinfo.h>

#include <cstdlib>

#include <sstream>

namespace leseg {
namespace {
thread_local HostSyncCounter* t_counter = nullptr;
thread_local const char* t_region = nullptr;
thread_local bool t_device_copy = false;
thread_local const char* t_label = nullptr;
}  // namespace

const char* host_sync_kind_name(HostSyncKind k) {
  switch (k) {
    case HostSyncKind::Read: return "read";
    case HostSyncKind::Stream: return "stream";
    case HostSyncKind::ErrorSlot: return "error-slot";
    case HostSyncKind::Structure: return "structure";
  }
  return "?";
}

bool host_sync_counting() { return t_counter != nullptr; }

void note_host_sync(HostSyncKind kind, Device d, const std::string& what) {
  HostSyncCounter* c = t_counter;
  if (!c) return;
  HostSyncEvent e;
  e.kind = kind;
  e.what = t_label ? std::string(t_label) + ": " + what : what;
  e.region = t_region ? t_region : "";
  e.real = d.is_cuda();
  if (c->stacks_) {
    void* frames[24];
    const int n = backtrace(frames, 24);
    if (char** sym = backtrace_symbols(frames, n)) {
      for (int i = 1; i < n; ++i) e.stack.emplace_back(sym[i]);  // frame 0 is this function
      std::free(sym);
    }
  }
  c->events_.push_back(std::move(e));
}

HostSyncCounter::HostSyncCounter(bool capture_stacks) : stacks_(capture_stacks), prev_(t_counter) {
  t_counter = this;
}
HostSyncCounter::~HostSyncCounter() {
  // Hand what was seen to an enclosing counter so that nesting never hides a sync.
  if (prev_) prev_->events_.insert(prev_->events_.end(), events_.begin(), events_.end());
  t_counter = prev_;
}

int64_t HostSyncCounter::inside_regions() const {
  int64_t n = 0;
  for (const auto& e : events_) n += !e.region.empty();
  return n;
}
int64_t HostSyncCounter::count(HostSyncKind k) const {
  int64_t n = 0;
  for (const auto& e : events_) n += e.kind == k;
  return n;
}

std::string HostSyncCounter::report(bool only_inside_regions) const {
  std::ostringstream os;
  for (const auto& e : events_) {
    if (only_inside_regions && e.region.empty()) continue;
    os << "host sync [" << host_sync_kind_name(e.kind) << "] " << e.what << (e.real ? " (cuda)" : " (would sync on a GPU)");
    if (!e.region.empty()) os << " inside sync-free region '" << e.region << "'";
    os << "\n";
    for (const auto& f : e.stack) os << "    at " << f << "\n";
  }
  return os.str();
}

SyncFreeRegion::SyncFreeRegion(const char* name) : prev_(t_region) { t_region = name; }
SyncFreeRegion::~SyncFreeRegion() { t_region = prev_; }

HostSyncLabel::HostSyncLabel(const char* label) : prev_(t_label) { t_label = label; }
HostSyncLabel::~HostSyncLabel() { t_label = prev_; }

// The same switch as a device-side copy: copy_bytes (engine/allocator.cpp) counts a read from a CPU tensor only
// outside it, and a read from a CUDA device always.
HostMemoryRead::HostMemoryRead() : prev_(t_device_copy) { t_device_copy = true; }
HostMemoryRead::~HostMemoryRead() { t_device_copy = prev_; }

namespace detail {
DeviceCopyScope::DeviceCopyScope() : prev(t_device_copy) { t_device_copy = true; }
DeviceCopyScope::~DeviceCopyScope() { t_device_copy = prev; }
bool in_device_copy() { return t_device_copy; }
}  // namespace detail

}  // namespace leseg
