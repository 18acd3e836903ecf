// SPDX-License-Identifier: Apache-2.0
// Device layer logic that needs no GPU: the CUDA device guard against a fake current-device API, the
// LESEG_CUDA_SYNC switch, the device-side error messages and the id rule the CUDA checks use.
#include <gtest/gtest.h>

#include <thread>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "kernels/device_error/device_error.h"
#include "kernels/common/sync_mode.h"

using namespace leseg;

namespace {
// A fake "current device" with a log of every set, standing in for cudaGetDevice / cudaSetDevice.
int g_current = 0;
std::vector<int> g_sets;
int fake_get() { return g_current; }
void fake_set(int d) {
  if (d >= 4) throw Error("fake: no device " + std::to_string(d));
  g_sets.push_back(d);
  g_current = d;
}
const CudaDeviceApi kFake{fake_get, fake_set};

struct FakeApi {
  FakeApi() {
    g_current = 0;
    g_sets.clear();
    set_cuda_device_api(&kFake);
  }
  ~FakeApi() { set_cuda_device_api(nullptr); }
};
}  // namespace

TEST(DeviceGuard, SwitchesToTheOpsDeviceAndRestores) {
  FakeApi api;
  {
    CudaDeviceGuard g(Device::cuda(2));
    EXPECT_EQ(g_current, 2);
  }
  EXPECT_EQ(g_current, 0);
  EXPECT_EQ(g_sets, (std::vector<int>{2, 0}));
}

TEST(DeviceGuard, NoSetWhenAlreadyCurrentOrCpu) {
  FakeApi api;
  g_current = 1;
  {
    CudaDeviceGuard a(Device::cuda(1));
    CudaDeviceGuard b(Device::cpu());
    EXPECT_EQ(g_current, 1);
  }
  EXPECT_TRUE(g_sets.empty());
}

TEST(DeviceGuard, NestedGuardsUnwindInOrder) {
  FakeApi api;
  {
    CudaDeviceGuard a(Device::cuda(1));
    {
      CudaDeviceGuard b(Device::cuda(3));
      EXPECT_EQ(g_current, 3);
      CudaDeviceGuard c(Device::cuda(3));  // already current: no set
      EXPECT_EQ(g_current, 3);
    }
    EXPECT_EQ(g_current, 1);
  }
  EXPECT_EQ(g_current, 0);
  EXPECT_EQ(g_sets, (std::vector<int>{1, 3, 1, 0}));
}

TEST(DeviceGuard, RestoresWhenTheOpThrows) {
  FakeApi api;
  EXPECT_THROW(
      {
        CudaDeviceGuard g(Device::cuda(2));
        throw Error("op failed");
      },
      Error);
  EXPECT_EQ(g_current, 0);
}

TEST(DeviceGuard, AMissingDeviceIsAnErrorAndNothingToRestore) {
  FakeApi api;
  EXPECT_THROW(CudaDeviceGuard g(Device::cuda(7)), Error);
  EXPECT_EQ(g_current, 0);
  EXPECT_TRUE(g_sets.empty());
}

TEST(CudaSyncMode, SwitchIsSharedByKernelsAndEngine) {
  const bool before = cuda_sync_mode();
  set_cuda_sync_mode(true);
  EXPECT_TRUE(kernels::cuda_sync_mode());
  kernels::set_cuda_sync_mode(false);
  EXPECT_FALSE(cuda_sync_mode());
  // A CPU op is never synchronised, in either mode.
  set_cuda_sync_mode(true);
  EXPECT_NO_THROW(cuda_op_done(Device::cpu(), "add"));
  // A stream capture on this thread must not synchronise the device: the mode reads off inside a CaptureScope, on
  // this thread only, and comes back after it.
  {
    kernels::CaptureScope outer;
    EXPECT_TRUE(kernels::capturing_on_this_thread());
    EXPECT_FALSE(kernels::cuda_sync_mode());
    {
      kernels::CaptureScope inner;
      EXPECT_FALSE(cuda_sync_mode());
    }
    EXPECT_FALSE(cuda_sync_mode());
    bool other = false;
    std::thread([&] { other = kernels::cuda_sync_mode(); }).join();
    EXPECT_TRUE(other);
  }
  EXPECT_FALSE(kernels::capturing_on_this_thread());
  EXPECT_TRUE(cuda_sync_mode());
  set_cuda_sync_mode(before);
}

TEST(DeviceErrors, IdRuleMatchesTheCpuTwins) {
  using kernels::id_in_range;
  // Labels: [0, C) or the ignore index.
  EXPECT_TRUE(id_in_range(0, 0, 20, -1));
  EXPECT_TRUE(id_in_range(19, 0, 20, -1));
  EXPECT_TRUE(id_in_range(-1, 0, 20, -1));
  EXPECT_FALSE(id_in_range(20, 0, 20, -1));
  EXPECT_FALSE(id_in_range(255, 0, 20, -1));
  EXPECT_FALSE(id_in_range(-2, 0, 20, -1));
  EXPECT_TRUE(id_in_range(255, 0, 20, 255));  // ignore index 255
  // Group ids: anything below G (negative = in no group).
  EXPECT_TRUE(id_in_range(-7, INT64_MIN, 5, -1));
  EXPECT_TRUE(id_in_range(4, INT64_MIN, 5, -1));
  EXPECT_FALSE(id_in_range(5, INT64_MIN, 5, -1));
}

TEST(DeviceErrors, MessagesNameOpRowValueAndBound) {
  kernels::DeviceErrorRecord r;
  EXPECT_EQ(kernels::describe_device_error(r), "");
  r.code = int32_t(kernels::DeviceErrorCode::CrossEntropyLabel);
  r.index = 80583;
  r.value = 255;
  r.bound = 20;
  EXPECT_EQ(kernels::describe_device_error(r),
            "cross_entropy (CUDA): label 255 at row 80583 is not in [0, 20) and not the ignore index");
  r.code = int32_t(kernels::DeviceErrorCode::SegmentGroup);
  r.index = 3;
  r.value = 9;
  r.bound = 9;
  EXPECT_EQ(kernels::describe_device_error(r), "segment op (CUDA): group id 9 at element 3 is >= G = 9");
  for (int c = 1; c <= 5; ++c) {
    r.code = c;
    const std::string m = kernels::describe_device_error(r);
    EXPECT_NE(m.find("(CUDA)"), std::string::npos) << m;
    EXPECT_NE(m.find(std::to_string(r.value)), std::string::npos) << m;
  }
  r.code = int32_t(kernels::DeviceErrorCode::OneHot);
  r.index = 4;
  r.value = 7;
  r.bound = 5;
  EXPECT_EQ(kernels::describe_device_error(r), "one_hot (CUDA): index 7 at position 4 is outside [0, 5)");
  r.code = 99;
  EXPECT_NE(kernels::describe_device_error(r).find("unknown device error code 99"), std::string::npos);
}

TEST(DeviceErrors, CpuTwinRecordsTheFirstOffender) {
  const std::vector<int64_t> y = {0, 3, -1, 255, 19, 20, 7};
  kernels::DeviceErrorRecord r;
  ASSERT_TRUE(kernels::check_ids_cpu(y.data(), int64_t(y.size()), 0, 20, -1,
                                     kernels::DeviceErrorCode::CrossEntropyLabel, &r));
  EXPECT_EQ(r.code, int32_t(kernels::DeviceErrorCode::CrossEntropyLabel));
  EXPECT_EQ(r.index, 3);
  EXPECT_EQ(r.value, 255);
  EXPECT_EQ(r.bound, 20);
  const std::vector<int64_t> ok = {0, 19, -1, -1};
  kernels::DeviceErrorRecord untouched;
  untouched.index = 42;
  EXPECT_FALSE(kernels::check_ids_cpu(ok.data(), int64_t(ok.size()), 0, 20, -1,
                                      kernels::DeviceErrorCode::CrossEntropyLabel, &untouched));
  EXPECT_EQ(untouched.index, 42);
  // group ids: negative = no group, valid; >= G not
  const std::vector<int64_t> g = {-5, 0, 2, 3};
  ASSERT_TRUE(kernels::check_ids_cpu(g.data(), 4, INT64_MIN, 3, -1, kernels::DeviceErrorCode::SegmentGroup, &r));
  EXPECT_EQ(r.index, 3);
  EXPECT_EQ(kernels::describe_device_error(r), "segment op (CUDA): group id 3 at element 3 is >= G = 3");
}

TEST(DeviceErrors, CheckIsANoOpOnCpu) { EXPECT_NO_THROW(check_device_errors(Device::cpu())); }
