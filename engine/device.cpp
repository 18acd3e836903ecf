// SPDX-License-Identifier: Apache-2.0
#include "engine/device.h"
#include "engine/host_sync.h"

#include "kernels/device_error/device_error.h"
#include "kernels/common/sync_mode.h"

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
// The current stream is per thread (PyTorch's model): a loader thread that sets its copy stream does not move the
// compute thread's work onto it. A thread that never set one issues on the legacy default stream.
thread_local std::unordered_map<int, kernels::StreamHandle> t_streams;
}  // namespace

int cuda_device_count() { return probe().count; }
bool cuda_available() { return probe().count > 0; }
std::string cuda_unavailable_reason() { return probe().reason; }

kernels::StreamHandle current_stream(Device d) {
  if (d.is_cpu()) return nullptr;
  auto it = t_streams.find(d.index);
  return it == t_streams.end() ? nullptr : it->second;
}
void set_current_stream(Device d, kernels::StreamHandle s) {
  LESEG_CHECK(d.is_cuda(), "set_current_stream: device ", d.str(), " is not a CUDA device");
  t_streams[d.index] = s;
}

void synchronize(Device d) {
  if (host_sync_counting()) note_host_sync(HostSyncKind::Stream, d, "synchronize(" + d.str() + ")");
#if LESEG_WITH_CUDA
  if (d.is_cuda() && cuda_available()) {
    CudaDeviceGuard guard(d);  // the legacy stream (nullptr) is the *current* device's
    cudaError_t e = cudaStreamSynchronize(static_cast<cudaStream_t>(current_stream(d)));
    if (e != cudaSuccess) LESEG_FAIL("synchronize ", d.str(), ": ", cudaGetErrorString(e));
  }
#endif
}

namespace {
int real_get_device() {
#if LESEG_WITH_CUDA
  int d = 0;
  cudaError_t e = cudaGetDevice(&d);
  if (e != cudaSuccess) {
    cudaGetLastError();
    LESEG_FAIL("cudaGetDevice failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
  }
  return d;
#else
  return 0;
#endif
}
void real_set_device(int index) {
#if LESEG_WITH_CUDA
  cudaError_t e = cudaSetDevice(index);
  if (e != cudaSuccess) {
    cudaGetLastError();
    LESEG_FAIL("cudaSetDevice(", index, ") failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")",
               index >= cuda_device_count() ? " (cuda:" + std::to_string(index) + " does not exist: " +
                                                  std::to_string(cuda_device_count()) + " device(s))"
                                            : std::string());
  }
#else
  fail_no_cuda("cudaSetDevice");
#endif
}
const CudaDeviceApi g_real_api{real_get_device, real_set_device};
const CudaDeviceApi* g_api = &g_real_api;
}  // namespace

const CudaDeviceApi* set_cuda_device_api(const CudaDeviceApi* api) {
  const CudaDeviceApi* prev = g_api;
  g_api = api ? api : &g_real_api;
  return prev == &g_real_api ? nullptr : prev;
}

CudaDeviceGuard::CudaDeviceGuard(Device d) : CudaDeviceGuard(d.is_cuda() ? d.index : -1) {}

CudaDeviceGuard::CudaDeviceGuard(int index) {
  if (index < 0) return;
  int cur = g_api->get();
  if (cur == index) return;
  g_api->set(index);
  prev_ = cur;
}

CudaDeviceGuard::~CudaDeviceGuard() {
  if (prev_ < 0) return;
  try {
    g_api->set(prev_);
  } catch (...) {
    // A destructor must not throw; the next guarded op sets its own device anyway.
  }
}

bool cuda_sync_mode() { return kernels::cuda_sync_mode(); }
void set_cuda_sync_mode(bool on) { kernels::set_cuda_sync_mode(on); }

void cuda_op_done(Device d, std::string_view opname) {
  if (!d.is_cuda() || !cuda_sync_mode()) return;
#if LESEG_WITH_CUDA
  cudaError_t e = cudaDeviceSynchronize();
  if (e == cudaSuccess) e = cudaGetLastError();
  if (e != cudaSuccess) {
    LESEG_FAIL("CUDA error after op '", opname, "' on ", d.str(), " (LESEG_CUDA_SYNC=1): ", cudaGetErrorName(e),
               " (", cudaGetErrorString(e), ")");
  }
  kernels::DeviceErrorRecord r;
  if (kernels::fetch_device_error_cuda(d.index, &r))
    LESEG_FAIL(kernels::describe_device_error(r), " (found after op '", opname, "' on ", d.str(), ")");
#endif
}

void check_device_errors(Device d) {
  // The once-per-step error-flag read (on CPU: where a GPU run would read it).
  if (host_sync_counting()) note_host_sync(HostSyncKind::ErrorSlot, d, "check_device_errors(" + d.str() + ")");
#if LESEG_WITH_CUDA
  if (!d.is_cuda() || !cuda_available()) return;
  kernels::DeviceErrorRecord r;
  if (kernels::fetch_device_error_cuda(d.index, &r)) LESEG_FAIL(kernels::describe_device_error(r), " on ", d.str());
#endif
}

namespace detail {
thread_local DispatchProbe* t_dispatch_probe = nullptr;
void record_dispatch(std::string_view opname, bool has_cuda) {
  if (t_dispatch_probe) t_dispatch_probe->hits.emplace_back(std::string(opname), has_cuda);
}
}  // namespace detail
DispatchProbe::DispatchProbe() {
  LESEG_CHECK(!detail::t_dispatch_probe, "DispatchProbe: one is already active on this thread");
  detail::t_dispatch_probe = this;
}
DispatchProbe::~DispatchProbe() { detail::t_dispatch_probe = nullptr; }

void fail_no_cuda(const char* what) {
  LESEG_FAIL(what, ": CUDA requested but unavailable: ",
             cuda_built() ? cuda_unavailable_reason() : std::string("leseg was built without CUDA"));
}

}  // namespace leseg
