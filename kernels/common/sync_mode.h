// SPDX-License-Identifier: Apache-2.0
// LESEG_CUDA_SYNC=1 (read once, at first use): every checked CUDA launch and every CUDA op synchronises and checks
// for an error right after it, naming the kernel or op, so an asynchronous fault (an illegal address, a device-side
// assert) surfaces where it happened instead of at the next host copy. For bring-up and debugging: it serialises
// the GPU. One flag for the kernel layer and the engine (engine/device.h forwards to it).
#pragma once

//
// A stream capture (CUDA graph) must not synchronise the device: that invalidates the capture. While a CaptureScope
// is open on a thread, cuda_sync_mode() is false on that thread (launches recorded into the graph are checked when it
// is launched; a replay under sync mode is checked by the op after it).
namespace leseg::kernels {
bool cuda_sync_mode();
void set_cuda_sync_mode(bool on);  // overrides the environment (tests)
bool capturing_on_this_thread();
class CaptureScope {
 public:
  CaptureScope();
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;
};
}  // namespace leseg::kernels
