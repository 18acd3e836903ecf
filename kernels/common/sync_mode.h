// SPDX-License-Identifier: Apache-2.0
// LESEG_CUDA_SYNC=1 (read once, at first use): every checked CUDA launch and every CUDA op synchronises and checks
// for an error right after it, naming the kernel or op, so an asynchronous fault (an illegal address, a device-side
// assert) surfaces where it happened instead of at the next host copy. For bring-up and debugging: it serialises
// the GPU. One flag for the kernel layer and the engine (engine/device.h forwards to it).
#pragma once

namespace leseg::kernels {
bool cuda_sync_mode();
void set_cuda_sync_mode(bool on);  // overrides the environment (tests)
}  // namespace leseg::kernels
