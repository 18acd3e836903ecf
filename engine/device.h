// SPDX-License-Identifier: Apache-2.0
// Devices and streams. A tensor lives on one device; ops run where their inputs are.
// cuda_available() treats *any* CUDA error (no driver, no device) as "no device".
#pragma once
#include <cstdint>
#include <string>

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

}  // namespace leseg

// Device dispatch for ops: `cpu_stmt` on CPU, `cuda_stmt` on CUDA (compiled only with the backend).
#if LESEG_WITH_CUDA
#define LESEG_DISPATCH_DEVICE(dev, opname, cpu_stmt, cuda_stmt) \
  do {                                                          \
    if ((dev).is_cpu()) { cpu_stmt; } else { cuda_stmt; }       \
  } while (0)
#else
#define LESEG_DISPATCH_DEVICE(dev, opname, cpu_stmt, cuda_stmt)   \
  do {                                                            \
    if ((dev).is_cpu()) { cpu_stmt; } else { ::leseg::fail_no_cuda(opname); } \
  } while (0)
#endif
