// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/sync_mode.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace leseg::kernels {
namespace {
std::atomic<int> g_mode{-1};  // -1: environment not read yet
thread_local int t_capture_depth = 0;
}
bool capturing_on_this_thread() { return t_capture_depth > 0; }
CaptureScope::CaptureScope() { ++t_capture_depth; }
CaptureScope::~CaptureScope() { --t_capture_depth; }
bool cuda_sync_mode() {
  if (t_capture_depth > 0) return false;
  int v = g_mode.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* e = std::getenv("LESEG_CUDA_SYNC");
    v = (e && *e && std::strcmp(e, "0") != 0) ? 1 : 0;
    g_mode.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}
void set_cuda_sync_mode(bool on) { g_mode.store(on ? 1 : 0, std::memory_order_relaxed); }
}  // namespace leseg::kernels
