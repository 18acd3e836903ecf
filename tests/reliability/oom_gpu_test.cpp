// SPDX-License-Identifier: Apache-2.0
// Out of memory on a CUDA device is an error naming the request, the allocator's figures and the device's
// free / total memory (skips without a device; LESEG_REQUIRE_GPU=1 turns the skip into a failure).
#include <gtest/gtest.h>

#include <string>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/tensor.h"

using namespace leseg;

TEST(OutOfMemoryGpu, CudaRequestNamesTheSizes) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  try {
    Tensor::empty(Shape{int64_t(1) << 42}, DType::f32, Device::cuda(0));  // 16 TiB
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("CUDA out of memory on cuda:0: tried to allocate 16384.00 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("(17592186044416 bytes requested)"), std::string::npos) << m;
    EXPECT_NE(m.find("device free"), std::string::npos) << m;
  }
  // the device stays usable after the failure
  Tensor t = Tensor::full(Shape{1024}, 2.0, DType::f32, Device::cuda(0));
  EXPECT_EQ(t.to(Device::cpu()).to_vector<float>()[1023], 2.0f);
}
