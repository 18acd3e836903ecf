// SPDX-License-Identifier: Apache-2.0
// CUDA-side helpers for kernels: checked launches (file and line), grid sizing with 64-bit sizes,
// NVTX ranges around launches, and the for_each launcher for elementwise functors.
#pragma once
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>

#include "kernels/common/hd.h"
#include "kernels/common/sync_mode.h"

namespace leseg::kernels::cuda {

inline void check(cudaError_t e, const char* what, const char* file, int line) {
  if (e != cudaSuccess) {
    std::ostringstream os;
    os << file << ":" << line << ": CUDA error in " << what << ": " << cudaGetErrorName(e) << " ("
       << cudaGetErrorString(e) << ")";
    throw std::runtime_error(os.str());
  }
}

// After a launch: the launch error, and in LESEG_CUDA_SYNC=1 mode also the kernel's own (asynchronous) error,
// both naming the kernel and the launch site.
inline void check_launch(const char* name, const char* file, int line) {
  check(cudaGetLastError(), name, file, line);
  if (cuda_sync_mode()) check(cudaDeviceSynchronize(), name, file, line);
}

inline cudaStream_t stream_of(StreamHandle s) { return static_cast<cudaStream_t>(s); }

// Grid of `threads`-sized blocks covering n elements, capped so grid-stride loops take the rest.
inline unsigned grid_for(int64_t n, int threads, int64_t cap = 65535LL * 32) {
  int64_t g = (n + threads - 1) / threads;
  if (g < 1) g = 1;
  if (g > cap) g = cap;
  return static_cast<unsigned>(g);
}

struct NvtxRange {
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

template <class F>
__global__ void for_each_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) f(i);
}

// Launch f(i) for i in [0, n) on `stream`; checked.
template <class F>
inline void for_each(int64_t n, F f, StreamHandle stream, const char* name = "leseg::for_each") {
  if (n <= 0) return;
  NvtxRange r(name);
  constexpr int kThreads = 256;
  for_each_kernel<<<grid_for(n, kThreads), kThreads, 0, stream_of(stream)>>>(n, f);
  check_launch(name, __FILE__, __LINE__);
}

}  // namespace leseg::kernels::cuda

#define LESEG_CUDA_CHECK(expr) ::leseg::kernels::cuda::check((expr), #expr, __FILE__, __LINE__)
#define LESEG_CUDA_CHECK_LAUNCH(name) ::leseg::kernels::cuda::check_launch(name, __FILE__, __LINE__)
