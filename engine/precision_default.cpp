// SPDX-License-Identifier: Apache-2.0
#include "engine/precision_default.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace leseg {

int cuda_compute_capability(const Device& d) {
  if (!d.is_cuda()) return 0;
#if LESEG_WITH_CUDA
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d.index) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d.index) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return major * 10 + minor;
#else
  return 0;
#endif
}

Precision default_precision(const Device& d) {
  return cuda_compute_capability(d) >= 80 ? Precision::bf16 : Precision::f32;
}

}  // namespace leseg
