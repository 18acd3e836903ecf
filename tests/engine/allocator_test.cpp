// SPDX-License-Identifier: Apache-2.0
// CPU allocator statistics and alignment; CUDA size classes (pure arithmetic, runs everywhere).
#include <gtest/gtest.h>

#include "engine/allocator.h"
#include "engine/tensor.h"

using namespace leseg;

TEST(Allocator, CpuStatsTrackInUseAndPeak) {
  Device cpu = Device::cpu();
  reset_peak_memory(cpu);
  MemoryStats before = memory_stats(cpu);
  {
    Tensor a = Tensor::empty(Shape{1000}, DType::f64);  // 8000 B, rounded to 64
    Tensor b = Tensor::empty(Shape{3}, DType::u8);      // 3 B -> 64
    MemoryStats during = memory_stats(cpu);
    EXPECT_EQ(during.in_use - before.in_use, 8000u + 64u);
    EXPECT_GE(during.peak, during.in_use);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data_ptr()) % kCpuAlignment, 0u);
  }
  MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(after.in_use, before.in_use);
  EXPECT_GE(after.peak, before.in_use + 8064u);
}

TEST(Allocator, ViewsDoNotAllocate) {
  Tensor a = Tensor::zeros(Shape{64, 8});
  size_t n = memory_stats(Device::cpu()).num_allocs;
  Tensor v = a.reshape(Shape{8, 64}).narrow(2, 3).detach();
  EXPECT_EQ(memory_stats(Device::cpu()).num_allocs, n);
  EXPECT_EQ(v.storage_id(), a.storage_id());
}

TEST(Allocator, HugeRequestIsAClearError) {
  try {
    Tensor::empty(Shape{int64_t(1) << 40, int64_t(1) << 20});  // 4 * 2^60 bytes
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
  }
}

TEST(Allocator, CudaSizeClasses) {
  EXPECT_EQ(cuda_size_class(0), 512u);
  EXPECT_EQ(cuda_size_class(1), 512u);
  EXPECT_EQ(cuda_size_class(512), 512u);
  EXPECT_EQ(cuda_size_class(513), 1024u);
  EXPECT_EQ(cuda_size_class((1u << 20) - 1), size_t(1) << 20);
  EXPECT_EQ(cuda_size_class(1u << 20), size_t(2) << 20);
  EXPECT_EQ(cuda_size_class((size_t(5) << 20) + 1), size_t(6) << 20);
}

TEST(Allocator, PinnedFallsBackWithoutDevice) {
  void* p = alloc_pinned(4096);
  ASSERT_NE(p, nullptr);
  static_cast<char*>(p)[4095] = 1;
  free_pinned(p);
}
