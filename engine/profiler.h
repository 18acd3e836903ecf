// SPDX-License-Identifier: Apache-2.0
// Per-op profiler (what PyTorch users know as the profiler's key_averages table). Off by default and then
// one relaxed load per hook. On with LESEG_PROFILE=1 (the table is printed to stderr when the process exits,
// and after LESEG_PROFILE_STEPS=N optimizer steps if set) or `train.profile: true` / profiler::enable(true).
// What is timed, on the host thread that runs the ops (wall clock, steady_clock):
//   scopes   NvtxScope phases ("leseg::forward", "leseg::backward", "leseg::optimizer", ...) and
//            profiler::Scope: total = inclusive time, self = total minus the time of everything timed inside.
//   forward  every recorded op (autograd record()): the time since the previous timing boundary on this thread
//            (the previous op, or the enclosing scope's start), i.e. the op's own kernels plus any untimed work
//            just before it (index building, a kernel map) -- charged to the next recorded op, named "fwd:<op>".
//   backward every autograd node's backward closure, exactly, named "bwd:<op>".
//   bytes    CPU allocator bytes requested while the op/scope was the innermost timed thing.
// On CUDA the host times are those of asynchronous launches (unless LESEG_CUDA_SYNC=1); the device column is
// measured: an event is recorded on the current stream at every timing boundary, and the GPU time between two
// consecutive events is charged to the row whose host self time that interval is ("device ms", rows then sorted
// by it). The events are read when a step's optimizer scope closes and when the table is made (a host sync each
// step while profiling; nothing is recorded inside a CUDA-graph capture, whose interval runs on into the next
// mark). LESEG_PROFILE_CUDA=0 turns the device column off. The NVTX ranges of the phases are what Nsight shows.
// A step = one closed "leseg::optimizer" scope; "share" = self time / the summed time of the outermost scopes.
#pragma once
#include <atomic>
#include <cstddef>
#include <string>

namespace leseg::profiler {

namespace detail {
extern std::atomic<bool> g_enabled;
}
inline bool enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }
void enable(bool on);  // also reads nothing from the environment; clears nothing
void reset();

void push(const char* name);
void pop();
void mark_op(const char* name);  // a forward op was recorded (see above)
void note_alloc(size_t bytes);

// The table, rows by self time, at most max_rows (the rest summed in one row).
std::string table(int max_rows = 40);
int64_t steps();

class Scope {
 public:
  explicit Scope(const char* name) : on_(enabled()) {
    if (on_) push(name);
  }
  ~Scope() {
    if (on_) pop();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool on_;
};

}  // namespace leseg::profiler
