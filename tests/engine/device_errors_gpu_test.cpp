// SPDX-License-Identifier: Apache-2.0
// The bring-up switches on a real device: out-of-range labels and group ids on CUDA give the CPU twin's error
// (device error slot, read once per step or after every op in LESEG_CUDA_SYNC=1 mode), the sync mode itself, and
// ops on cuda:1 running on device 1 (the device guard; skips as "(optional)" on a one-GPU machine).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/host_sync.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/losses.h"
#include "engine/ops/segment.h"
#include "engine/tensor.h"
#include "kernels/device_error/device_error.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

using namespace leseg;

#define REQUIRE_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason()

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}
struct SyncMode {
  explicit SyncMode(bool on) : before(cuda_sync_mode()) { set_cuda_sync_mode(on); }
  ~SyncMode() { set_cuda_sync_mode(before); }
  bool before;
};
}  // namespace

TEST(DeviceErrorsGpu, OutOfRangeLabelIsTheCpuTwinsError) {
  REQUIRE_CUDA();
  SyncMode off(false);
  const Device g = Device::cuda();
  Tensor z = Tensor::randn(Shape{6, 20}, 1);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 3, -1, 255, 19, 7}, Shape{6});
  // CPU twin: an error at once.
  const std::string cpu = error_of([&] { cross_entropy(z, y); });
  EXPECT_NE(cpu.find("label 255 at row 3"), std::string::npos) << cpu;
  // CUDA: the op runs (row 3 counts as ignored); the step's check raises the same facts once, then it is clear.
  Tensor l = cross_entropy(z.to(g), y.to(g));
  const std::string gpu = error_of([&] { check_device_errors(g); });
  EXPECT_NE(gpu.find("cross_entropy (CUDA): label 255 at row 3 is not in [0, 20)"), std::string::npos) << gpu;
  EXPECT_EQ(error_of([&] { check_device_errors(g); }), "");
  // Valid labels leave nothing behind.
  Tensor ok = cross_entropy(z.to(g), Tensor::from_vector(std::vector<int64_t>{0, 1, 2, -1, 4, 5}, Shape{6}).to(g));
  EXPECT_EQ(error_of([&] { check_device_errors(g); }), "");
  EXPECT_TRUE(std::isfinite(ok.item_double()));
}

// The CUDA check against its CPU twin on a large input with exactly one offender (so "first" is unambiguous).
TEST(DeviceErrorsGpu, CheckMatchesCpuTwin) {
  REQUIRE_CUDA();
#if LESEG_WITH_CUDA  // the kernel-level CUDA entry points exist only in a CUDA build
  SyncMode off(false);
  const Device g = Device::cuda();
  std::vector<int64_t> y(1 << 20);
  for (size_t i = 0; i < y.size(); ++i) y[i] = int64_t(i % 21) - 1;  // -1 .. 19
  y[777777] = 20;
  kernels::DeviceErrorRecord cpu, gpu;
  ASSERT_TRUE(kernels::check_ids_cpu(y.data(), int64_t(y.size()), 0, 20, -1,
                                     kernels::DeviceErrorCode::CrossEntropyLabel, &cpu));
  Tensor yd = Tensor::from_vector(y, Shape{int64_t(y.size())}).to(g);
  {
    CudaDeviceGuard guard(g);
    kernels::check_ids_cuda(yd.data<int64_t>(), yd.numel(), 0, 20, -1, kernels::DeviceErrorCode::CrossEntropyLabel,
                            current_stream(g));
    ASSERT_TRUE(kernels::fetch_device_error_cuda(g.index, &gpu));
  }
  EXPECT_EQ(gpu.code, cpu.code);
  EXPECT_EQ(gpu.index, cpu.index);
  EXPECT_EQ(gpu.value, cpu.value);
  EXPECT_EQ(gpu.bound, cpu.bound);
#endif
}

TEST(DeviceErrorsGpu, NegativeLearningLabel) {
  REQUIRE_CUDA();
  SyncMode off(false);
  const Device g = Device::cuda();
  Tensor z = Tensor::randn(Shape{4, 5}, 2).to(g);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 5, 1, 2}, Shape{4}).to(g);
  negative_learning(z, y);
  const std::string e = error_of([&] { check_device_errors(g); });
  EXPECT_NE(e.find("negative_learning (CUDA): label 5 at row 1"), std::string::npos) << e;
}

TEST(DeviceErrorsGpu, GroupIdAtOrAboveG) {
  REQUIRE_CUDA();
  SyncMode off(false);
  const Device g = Device::cuda();
  Tensor x = Tensor::randn(Shape{5, 3}, 3).to(g);
  Tensor grp = Tensor::from_vector(std::vector<int64_t>{0, -1, 1, 4, 2}, Shape{5}).to(g);
  segment_sum(x, grp, 3);
  const std::string e = error_of([&] { check_device_errors(g); });
  EXPECT_NE(e.find("group id 4 at element 3 is >= G = 3"), std::string::npos) << e;
  // -1 (no group) is valid.
  segment_sum(x, Tensor::from_vector(std::vector<int64_t>{0, -1, 1, 2, 2}, Shape{5}).to(g), 3);
  EXPECT_EQ(error_of([&] { check_device_errors(g); }), "");
}

// one_hot on CUDA reads nothing back: an index outside [0, C) is the error slot's, with the CPU twin's words; the
// other rows are right and the bad row stays zero.
TEST(DeviceErrorsGpu, OneHotIndexOutsideTheClasses) {
  REQUIRE_CUDA();
  SyncMode off(false);
  const Device g = Device::cuda();
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{1, 0, 7, 2}, Shape{4}).to(g);
  HostSyncCounter c;
  Tensor y = one_hot(idx, 3);
  EXPECT_EQ(c.total(), 0) << c.report();
  const std::string e = error_of([&] { check_device_errors(g); });
  EXPECT_NE(e.find("one_hot (CUDA): index 7 at position 2 is outside [0, 3)"), std::string::npos) << e;
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}));
  one_hot(Tensor::from_vector(std::vector<int32_t>{2, 0}, Shape{2}).to(g), 3);
  EXPECT_EQ(error_of([&] { check_device_errors(g); }), "");
}

TEST(DeviceErrorsGpu, SyncModeRaisesAtTheOpNamingIt) {
  REQUIRE_CUDA();
  SyncMode on(true);
  const Device g = Device::cuda();
  Tensor z = Tensor::randn(Shape{3, 4}, 4).to(g);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 9, 1}, Shape{3}).to(g);
  const std::string e = error_of([&] { cross_entropy(z, y); });
  EXPECT_NE(e.find("label 9 at row 1"), std::string::npos) << e;
  EXPECT_NE(e.find("found after op"), std::string::npos) << e;
  // A correct op in sync mode runs and synchronises without complaint.
  Tensor a = Tensor::randn(Shape{1000}, 5).to(g);
  EXPECT_NO_THROW(add(a, a));
}

TEST(DeviceGuardGpu, OpsOnSecondDeviceRunThere) {
  REQUIRE_CUDA();
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs a second CUDA device (optional): " << cuda_device_count() << " here";
#if LESEG_WITH_CUDA
  const Device d1 = Device::cuda(1);
  cudaSetDevice(0);
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, Shape{4}).to(d1);
  Tensor b = mul(add(a, a), a);
  EXPECT_EQ(b.device(), d1);
  cudaPointerAttributes attr{};
  ASSERT_EQ(cudaPointerGetAttributes(&attr, b.data_ptr()), cudaSuccess);
  EXPECT_EQ(attr.device, 1);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{2, 8, 18, 32}));
  int cur = -1;
  cudaGetDevice(&cur);
  EXPECT_EQ(cur, 0) << "the guard must restore the caller's device";
  // Across devices: cuda:1 -> cuda:0 -> cpu.
  EXPECT_EQ(b.to(Device::cuda(0)).to_vector<float>(), (std::vector<float>{2, 8, 18, 32}));
#endif
}

// index_select / index_add bounds checks do not read the host (issue 17): an out-of-range index is recorded on the
// device and raised by the step's check with the CPU twin's facts; valid indices leave nothing behind.
TEST(DeviceErrorsGpu, OutOfRangeIndexIsRecordedNotSynced) {
  REQUIRE_CUDA();
  SyncMode off(false);
  const Device g = Device::cuda();
  Tensor x = Tensor::randn(Shape{5, 3}, 2).to(g);
  Tensor idx = Tensor::from_vector(std::vector<int64_t>{0, 4, 1, 7, 2}, Shape{5}).to(g);
  HostSyncCounter c;
  Tensor y;
  {
    SyncFreeRegion r("index_select");
    y = index_select(x, 0, idx);
  }
  EXPECT_EQ(c.inside_regions(), 0) << c.report(true);
  const std::string e = error_of([&] { check_device_errors(g); });
  EXPECT_NE(e.find("index_select (CUDA): index 7 at position 3 is out of range [0, 5)"), std::string::npos) << e;
  const auto rows = y.to_vector<float>();
  for (int k = 0; k < 3; ++k) EXPECT_EQ(rows[size_t(3 * 3 + k)], 0.0f);  // the bad row reads as 0
  Tensor ok = index_select(x, 0, Tensor::from_vector(std::vector<int64_t>{4, 0}, Shape{2}).to(g));
  EXPECT_EQ(error_of([&] { check_device_errors(g); }), "");
}
