// SPDX-License-Identifier: Apache-2.0
// Devices and streams. A tensor lives on one device; ops run where their inputs are.
// cuda_available() treats *any* CUDA error (no driver, no device) as "no device".
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "kernels/common/hd.h"

namespace leseg {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1"
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  bool operator==(const Device& o) const { return type == o.type && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// True when the CUDA backend was built and at least one device answers.
bool cuda_built();
bool cuda_available();
int cuda_device_count();  // 0 on any error
std::string cuda_unavailable_reason();

// The stream ops on `d` are issued on (nullptr = legacy default stream; CPU: nullptr).
kernels::StreamHandle current_stream(Device d);
void set_current_stream(Device d, kernels::StreamHandle s);
void synchronize(Device d);

// Throws a clear error when asked for CUDA work in a CPU-only build or without a device.
[[noreturn]] void fail_no_cuda(const char* what);

// The current-device calls a CudaDeviceGuard makes. The real one wraps cudaGetDevice / cudaSetDevice (and
// throws leseg::Error naming the device on failure); tests install a fake to check the guard's logic on CPU.
struct CudaDeviceApi {
  int (*get)();
  void (*set)(int);
};
// Installs `api` (nullptr restores the real one); returns the previous. Not thread-safe: tests only.
const CudaDeviceApi* set_cuda_device_api(const CudaDeviceApi* api);

// Makes `d` the current CUDA device for the guard's lifetime and restores the previous one afterwards, so an op
// on cuda:N launches on N (and cuBLAS/cuDNN handle caches keyed by the current device pick N's handle). A CPU
// device, or a device that is already current, costs one get and no set.
class CudaDeviceGuard {
 public:
  explicit CudaDeviceGuard(Device d);
  explicit CudaDeviceGuard(int index);
  ~CudaDeviceGuard();
  CudaDeviceGuard(const CudaDeviceGuard&) = delete;
  CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

 private:
  int prev_ = -1;  // -1: nothing to restore
};

// LESEG_CUDA_SYNC=1 (read once): every CUDA op synchronises its device after it ran and checks for an error,
// naming the op, so an asynchronous fault surfaces at the op that caused it. Off by default (it serialises).
bool cuda_sync_mode();
void set_cuda_sync_mode(bool on);  // tests
// Called by LESEG_DISPATCH_DEVICE after a CUDA op: in sync mode synchronises `d` and throws leseg::Error
// "CUDA error after op '<op>' on cuda:N: ..." on failure; otherwise does nothing.
void cuda_op_done(Device d, std::string_view opname);

// Reads the device's error slot (kernels/device_error/device_error.h: out-of-range labels / group ids a CUDA kernel met;
// synchronises `d`) and throws leseg::Error with the CPU twin's facts (op, element, value, bound) if one was recorded,
// after resetting it. No-op on CPU or without CUDA. The Trainer calls it once per step on a CUDA device.
void check_device_errors(Device d);

// Dispatch probe (tests/engine/ops/coverage_test.cpp): while a DispatchProbe lives on this thread, every
// LESEG_DISPATCH_DEVICE / LESEG_DISPATCH_CPU_ONLY that runs on the CPU records its op name and whether the build
// compiled a CUDA statement for it, so a CPU run of an op's harness case proves the op reaches device dispatch
// (no host-only path) and that every site it reaches has a CUDA path.
struct DispatchProbe {
  DispatchProbe();
  ~DispatchProbe();
  DispatchProbe(const DispatchProbe&) = delete;
  DispatchProbe& operator=(const DispatchProbe&) = delete;
  std::vector<std::pair<std::string, bool>> hits;  // (op name, has a CUDA path)
};
namespace detail {
extern thread_local DispatchProbe* t_dispatch_probe;
void record_dispatch(std::string_view opname, bool has_cuda);
}  // namespace detail

}  // namespace leseg

#define LESEG_DISPATCH_PROBE_(opname, has_cuda) \
  do { if (::leseg::detail::t_dispatch_probe) ::leseg::detail::record_dispatch((opname), (has_cuda)); } while (0)

// An op with no CUDA kernel (its ops.def row must be LESEG_OP_CPU_ONLY with the reason): CPU runs, CUDA is an error.
#define LESEG_DISPATCH_CPU_ONLY(dev, opname, cpu_stmt)                                              \
  do {                                                                                              \
    if ((dev).is_cpu()) {                                                                           \
      LESEG_DISPATCH_PROBE_(opname, false);                                                         \
      cpu_stmt;                                                                                     \
    } else {                                                                                        \
      throw ::leseg::Error(std::string(opname) + ": no CUDA implementation (CPU only); move the inputs to the CPU"); \
    }                                                                                               \
  } while (0)

// Device dispatch for ops: `cpu_stmt` on CPU, `cuda_stmt` on CUDA (compiled only with the backend).
#if LESEG_WITH_CUDA
#define LESEG_DISPATCH_DEVICE(dev, opname, cpu_stmt, cuda_stmt)   \
  do {                                                            \
    if ((dev).is_cpu()) {                                         \
      LESEG_DISPATCH_PROBE_(opname, true);                        \
      cpu_stmt;                                                   \
    } else {                                                      \
      ::leseg::CudaDeviceGuard leseg_device_guard_((dev));        \
      cuda_stmt;                                                  \
      ::leseg::cuda_op_done((dev), (opname));                     \
    }                                                             \
  } while (0)
#else
#define LESEG_DISPATCH_DEVICE(dev, opname, cpu_stmt, cuda_stmt)   \
  do {                                                            \
    if ((dev).is_cpu()) { LESEG_DISPATCH_PROBE_(opname, false); cpu_stmt; } else { ::leseg::fail_no_cuda(opname); } \
  } while (0)
#endif
