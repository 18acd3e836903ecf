// SPDX-License-Identifier: Apache-2.0
// CPU allocator statistics and alignment; CUDA size classes (pure arithmetic, runs everywhere).
#include <gtest/gtest.h>

#include <vector>

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

// ---- the CPU caching allocator (engine/allocator_cpu.h)
#include "engine/allocator_cpu.h"

TEST(Allocator, CpuSizeClasses) {
  EXPECT_EQ(cpu_size_class(0), 64u);
  EXPECT_EQ(cpu_size_class(1), 64u);
  EXPECT_EQ(cpu_size_class(8000), 8000u);
  EXPECT_EQ(cpu_size_class(8001), 8064u);
  EXPECT_EQ(cpu_size_class((1u << 20) - 1), size_t(1) << 20);
  EXPECT_EQ(cpu_size_class(1u << 20), size_t(1) << 20);
  EXPECT_EQ(cpu_size_class((size_t(5) << 20) + 1), (size_t(5) << 20) + (size_t(64) << 10));
}

TEST(Allocator, CpuCacheReusesBlocksOnlyAfterRelease) {
  if (!cpu_cache_enabled()) GTEST_SKIP() << "LESEG_CPU_CACHE=0: the cache is off in this process";
  const Device cpu = Device::cpu();
  const int64_t n = int64_t(1) << 20;  // 4 MiB of f32
  void* first = nullptr;
  MemoryStats s0{}, s1{};
  {
    Tensor a = Tensor::empty(Shape{n});
    first = a.data_ptr();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % kCpuAlignment, 0u);
    s0 = memory_stats(cpu);
    // while `a` lives, a second block of the same size is a different one (no use after free)
    Tensor b = Tensor::empty(Shape{n});
    EXPECT_NE(b.data_ptr(), first);
    // a view keeps the storage alive: after `a` goes, its block is still not handed out
    Tensor v = a.narrow(0, 10);
    a = Tensor();
    Tensor c = Tensor::empty(Shape{n});
    EXPECT_NE(c.data_ptr(), first);
    EXPECT_NE(c.data_ptr(), b.data_ptr());
  }
  // every block released: the next request of that size is served from the cache, no system call
  s1 = memory_stats(cpu);
  EXPECT_EQ(s1.in_use + (size_t(4) << 20), s0.in_use);
  EXPECT_GE(s1.reserved, s1.in_use + (size_t(12) << 20));  // the three 4 MiB blocks are cached (within the slack)
  EXPECT_GE(cpu_cached_bytes(), size_t(12) << 20);
  Tensor d = Tensor::empty(Shape{n});
  const MemoryStats s2 = memory_stats(cpu);
  EXPECT_EQ(s2.num_system_allocs, s1.num_system_allocs);
  EXPECT_EQ(s2.num_allocs, s1.num_allocs + 1);
  EXPECT_EQ(s2.reserved, s1.reserved);
  EXPECT_EQ(s2.in_use, s1.in_use + (size_t(4) << 20));
  // a much smaller request does not take a big cached block (at most twice the request)
  Tensor small = Tensor::empty(Shape{1000});
  const size_t grew = memory_stats(cpu).in_use - s2.in_use;  // 4000 B -> a 4032 B class, or a cached block <= 2x
  EXPECT_GE(grew, 4032u);
  EXPECT_LE(grew, 2u * 4032u);
}

TEST(Allocator, CpuEmptyCacheReturnsCachedBlocks) {
  if (!cpu_cache_enabled()) GTEST_SKIP() << "LESEG_CPU_CACHE=0: the cache is off in this process";
  const Device cpu = Device::cpu();
  { Tensor a = Tensor::empty(Shape{int64_t(1) << 20}); }  // 4 MiB, then cached
  EXPECT_GE(cpu_cached_bytes(), size_t(4) << 20);
  const MemoryStats before = memory_stats(cpu);
  empty_cache(cpu);
  const MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  EXPECT_EQ(after.reserved, after.in_use);
  EXPECT_LE(after.reserved + (size_t(4) << 20), before.reserved);
  EXPECT_EQ(after.in_use, before.in_use);
}

// Blocks of sizes not asked for again do not pile up: a miss first returns cached blocks beyond 64 MiB of slack
// above the peak in use.
TEST(Allocator, CpuCacheStaysNearThePeak) {
  if (!cpu_cache_enabled()) GTEST_SKIP() << "LESEG_CPU_CACHE=0: the cache is off in this process";
  const Device cpu = Device::cpu();
  empty_cache(cpu);
  reset_peak_memory(cpu);
  for (int i = 0; i < 40; ++i) {  // 40 distinct sizes of 8-12 MiB, each freed at once: none fits the next
    Tensor t = Tensor::empty(Shape{(int64_t(8) << 20) / 4 + int64_t(i) * 26000});
  }
  const MemoryStats s = memory_stats(cpu);
  EXPECT_LE(s.reserved, s.peak + (size_t(64) << 20) + (size_t(13) << 20));
  EXPECT_GT(s.num_allocs, 0u);
}

// Resetting the peak statistic (as a benchmark or a per-step log does) must not send the cache back to the system:
// the release policy keeps to the high-water mark since the start / the last empty_cache. Before, a reset made the
// next miss return every cached block beyond 64 MiB of the (reset) peak, and the step took fresh pages again.
TEST(Allocator, CpuResetPeakDoesNotReleaseTheCache) {
  if (!cpu_cache_enabled()) GTEST_SKIP() << "LESEG_CPU_CACHE=0: the cache is off in this process";
  const Device cpu = Device::cpu();
  empty_cache(cpu);
  {  // a "step" that holds 200 MiB at once: 25 blocks of 8 MiB, all cached afterwards
    std::vector<Tensor> live;
    for (int i = 0; i < 25; ++i) live.push_back(Tensor::empty(Shape{(int64_t(8) << 20) / 4}));
  }
  ASSERT_GE(cpu_cached_bytes(), size_t(200) << 20);
  reset_peak_memory(cpu);  // peak := in use (the blocks are cached, not in use)
  const MemoryStats before = memory_stats(cpu);
  // a miss (a size the cache does not hold): with the reset peak as the bound, this released ~136 MiB of the cache
  Tensor other = Tensor::empty(Shape{(int64_t(3) << 20) / 4});
  const MemoryStats after = memory_stats(cpu);
  EXPECT_EQ(after.num_system_allocs, before.num_system_allocs + 1);
  EXPECT_GE(cpu_cached_bytes(), size_t(200) << 20) << "reset_peak_memory sent cached blocks back to the system";
  // the next "step" is served from the cache
  {
    std::vector<Tensor> live;
    for (int i = 0; i < 25; ++i) live.push_back(Tensor::empty(Shape{(int64_t(8) << 20) / 4}));
  }
  EXPECT_EQ(memory_stats(cpu).num_system_allocs, after.num_system_allocs);
  empty_cache(cpu);
}
