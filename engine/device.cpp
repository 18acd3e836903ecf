// SPDX-License-Identifier: Apache-2.0
#include "engine/device.h"

#include <mutex>
#include <unordered_map>

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace leseg {

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return cuda(std::stoi(s.substr(5)));
    } catch (...) {
    }
  }
  LESEG_FAIL("device: cannot parse '", s, "' (expected cpu, cuda or cuda:N)");
}

bool cuda_built() { return LESEG_WITH_CUDA != 0; }

namespace {
struct CudaProbe {
  int count = 0;
  std::string reason;
};
const CudaProbe& probe() {
  static CudaProbe p = [] {
    CudaProbe r;
#if LESEG_WITH_CUDA
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      r.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    } else if (n == 0) {
      r.reason = "no CUDA device";
    } else {
      r.count = n;
    }
#else
    r.reason = "leseg was built without CUDA (LESEG_CUDA=OFF)";
#endif
    return r;
  }();
  return p;
}
std::mutex g_stream_mu;
std::unordered_map<int, kernels::StreamHandle> g_streams;
}  // namespace

int cuda_device_count() { return probe().count; }
bool cuda_available() { return probe().count > 0; }
std::string cuda_unavailable_reason() { return probe().reason; }

kernels::StreamHandle current_stream(Device d) {
  if (d.is_cpu()) return nullptr;
  std::lock_guard<std::mutex> lk(g_stream_mu);
  auto it = g_streams.find(d.index);
  return it == g_streams.end() ? nullptr : it->second;
}
void set_current_stream(Device d, kernels::StreamHandle s) {
  LESEG_CHECK(d.is_cuda(), "set_current_stream: device ", d.str(), " is not a CUDA device");
  std::lock_guard<std::mutex> lk(g_stream_mu);
  g_streams[d.index] = s;
}

void synchronize(Device d) {
#if LESEG_WITH_CUDA
  if (d.is_cuda() && cuda_available()) {
    cudaError_t e = cudaStreamSynchronize(static_cast<cudaStream_t>(current_stream(d)));
    if (e != cudaSuccess) LESEG_FAIL("synchronize ", d.str(), ": ", cudaGetErrorString(e));
  }
#endif
}

void fail_no_cuda(const char* what) {
  LESEG_FAIL(what, ": CUDA requested but unavailable: ",
             cuda_built() ? cuda_unavailable_reason() : std::string("leseg was built without CUDA"));
}

}  // namespace leseg
