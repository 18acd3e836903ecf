// SPDX-License-Identifier: Apache-2.0
// The per-device error slot (see device_error.h).
#include <mutex>
#include <vector>

#include "kernels/common/cuda_utils.cuh"
#include "kernels/device_error/device_error.h"

namespace leseg::kernels {
namespace {
std::mutex g_mu;
std::vector<DeviceErrorRecord*> g_slots;

__global__ void check_ids_kernel(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t allowed, int32_t code,
                                 DeviceErrorRecord* slot) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t x = v[i];
    if (!id_in_range(x, lo, hi, allowed)) {
      // First writer wins: later offenders leave the recorded one in place (which one is first may vary).
      if (atomicCAS(&slot->code, 0, code) == 0) {
        slot->index = i;
        slot->value = x;
        slot->bound = hi;
      }
    }
  }
}
}  // namespace

DeviceErrorRecord* device_error_slot_cuda(int device) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (device < 0) device = 0;
  if (size_t(device) >= g_slots.size()) g_slots.resize(size_t(device) + 1, nullptr);
  if (!g_slots[device]) {
    int prev = 0;
    LESEG_CUDA_CHECK(cudaGetDevice(&prev));
    LESEG_CUDA_CHECK(cudaSetDevice(device));
    void* p = nullptr;
    LESEG_CUDA_CHECK(cudaMalloc(&p, sizeof(DeviceErrorRecord)));
    LESEG_CUDA_CHECK(cudaMemset(p, 0, sizeof(DeviceErrorRecord)));
    LESEG_CUDA_CHECK(cudaSetDevice(prev));
    g_slots[device] = static_cast<DeviceErrorRecord*>(p);
  }
  return g_slots[device];
}

void check_ids_cuda(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t allowed, DeviceErrorCode code,
                    StreamHandle s) {
  if (n <= 0) return;
  int dev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&dev));
  DeviceErrorRecord* slot = device_error_slot_cuda(dev);
  check_ids_kernel<<<cuda::grid_for(n, 256, 4096), 256, 0, cuda::stream_of(s)>>>(v, n, lo, hi, allowed,
                                                                                 int32_t(code), slot);
  LESEG_CUDA_CHECK_LAUNCH("leseg::check_ids");
}

bool fetch_device_error_cuda(int device, DeviceErrorRecord* out) {
  DeviceErrorRecord* slot = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    if (device >= 0 && size_t(device) < g_slots.size()) slot = g_slots[device];
  }
  *out = DeviceErrorRecord{};
  if (!slot) return false;  // nothing ever checked on this device
  int prev = 0;
  LESEG_CUDA_CHECK(cudaGetDevice(&prev));
  LESEG_CUDA_CHECK(cudaSetDevice(device));
  LESEG_CUDA_CHECK(cudaDeviceSynchronize());
  LESEG_CUDA_CHECK(cudaMemcpy(out, slot, sizeof(DeviceErrorRecord), cudaMemcpyDeviceToHost));
  if (out->code != 0) LESEG_CUDA_CHECK(cudaMemset(slot, 0, sizeof(DeviceErrorRecord)));
  LESEG_CUDA_CHECK(cudaSetDevice(prev));
  return out->code != 0;
}

}  // namespace leseg::kernels
