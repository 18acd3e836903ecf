// SPDX-License-Identifier: Apache-2.0
// NVTX ranges for host-side phases (a training step's forward, backward, optimizer), so an Nsight Systems
// timeline shows the step's structure around the kernels' own ranges. No-op in a CPU-only build.
// Each range is also a scope of the per-op profiler (engine/profiler.h) when that is on.
#pragma once
#include "engine/profiler.h"

#if LESEG_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace leseg {

class NvtxScope {
 public:
  explicit NvtxScope(const char* name) : prof_(profiler::enabled()) {
    if (prof_) profiler::push(name);
#if LESEG_WITH_CUDA
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxScope() {
#if LESEG_WITH_CUDA
    nvtxRangePop();
#endif
    if (prof_) profiler::pop();
  }
  NvtxScope(const NvtxScope&) = delete;
  NvtxScope& operator=(const NvtxScope&) = delete;

 private:
  bool prof_;
};

}  // namespace leseg
