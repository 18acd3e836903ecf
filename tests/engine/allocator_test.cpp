// SPDX-License-Identifier: Apache-2.0
// CPU allocator statistics and alignment; CUDA size classes (pure arithmetic, runs everywhere).
#include <cstring>
#include <cstdlib>
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
  // a miss (larger than any cached piece): with the reset peak as the bound, this released ~136 MiB of the cache
  Tensor other = Tensor::empty(Shape{(int64_t(12) << 20) / 4});
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

#define REQUIRE_SPLITTING_CACHE()                                                                 \
  if (!cpu_cache_enabled()) GTEST_SKIP() << "LESEG_CPU_CACHE=0: the cache is off in this process";   \
  if (const char* s = std::getenv("LESEG_CPU_CACHE_SPLIT"); s && std::string(s) == "0")            \
  GTEST_SKIP() << "LESEG_CPU_CACHE_SPLIT=0: large blocks are not split in this process"

// Large blocks are pieces of segments: a cached segment serves smaller requests by splitting (best fit), and freed
// neighbours coalesce, so a step whose forward and backward ask for different sizes reuses the same memory. The old
// policy (a cached block serves a request at most 1/8 smaller) took a fresh block for each of the pieces below.
TEST(Allocator, CpuLargeBlocksSplitAndCoalesce) {
  REQUIRE_SPLITTING_CACHE();
  const Device cpu = Device::cpu();
  empty_cache(cpu);
  char* base = nullptr;
  {
    Tensor big = Tensor::empty(Shape{(int64_t(32) << 20) / 4});  // one 32 MiB segment
    base = static_cast<char*>(big.data_ptr());
  }
  ASSERT_GE(cpu_cached_bytes(), size_t(32) << 20);
  const MemoryStats s0 = memory_stats(cpu);
  {
    // 8 + 8 + 8 + 6 MiB out of the cached 32 MiB: no system allocation, every piece inside the segment, disjoint
    std::vector<Tensor> pieces;
    for (int64_t mib : {8, 8, 8, 6}) pieces.push_back(Tensor::empty(Shape{(mib << 20) / 4}, DType::f32));
    EXPECT_EQ(memory_stats(cpu).num_system_allocs, s0.num_system_allocs) << "a cached segment was not split";
    EXPECT_EQ(memory_stats(cpu).reserved, s0.reserved);
    for (size_t i = 0; i < pieces.size(); ++i) {
      char* p = static_cast<char*>(pieces[i].data_ptr());
      EXPECT_GE(p, base);
      EXPECT_LE(p + pieces[i].numel() * 4, base + (size_t(32) << 20));
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kCpuAlignment, 0u);
      std::memset(p, int(i + 1), size_t(pieces[i].numel()) * 4);
    }
    for (size_t i = 0; i < pieces.size(); ++i) {  // no piece overlaps another: each still holds its own byte
      const auto* p = static_cast<const unsigned char*>(pieces[i].data_ptr());
      const size_t nb = size_t(pieces[i].numel()) * 4;
      EXPECT_EQ(p[0], i + 1);
      EXPECT_EQ(p[nb - 1], i + 1);
    }
    // free two neighbours in the middle, then ask for their sum: served from the coalesced piece
    char* second = static_cast<char*>(pieces[1].data_ptr());
    pieces[1] = Tensor();
    pieces[2] = Tensor();
    Tensor merged = Tensor::empty(Shape{(int64_t(16) << 20) / 4});
    EXPECT_EQ(memory_stats(cpu).num_system_allocs, s0.num_system_allocs) << "freed neighbours did not coalesce";
    EXPECT_EQ(static_cast<char*>(merged.data_ptr()), second);
  }
  // everything freed: the segment is whole again and serves a 32 MiB request
  { Tensor again = Tensor::empty(Shape{(int64_t(32) << 20) / 4}); EXPECT_EQ(again.data_ptr(), base); }
  EXPECT_EQ(memory_stats(cpu).num_system_allocs, s0.num_system_allocs);
  empty_cache(cpu);
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  EXPECT_EQ(memory_stats(cpu).reserved, memory_stats(cpu).in_use);
}

// A fixed "training step" whose forward keeps many tensors alive and whose backward asks for other sizes: from the
// second step on the cache serves every large request (the old policy took fresh blocks in every step), and what the
// process holds stays within the slack of the peak.
TEST(Allocator, CpuStepWithChangingSizesReachesASteadyState) {
  REQUIRE_SPLITTING_CACHE();
  const Device cpu = Device::cpu();
  empty_cache(cpu);
  auto step = [] {
    std::vector<Tensor> saved;  // "forward": activations kept for the backward, sizes 1.5-9 MiB
    uint32_t r = 12345;
    for (int i = 0; i < 24; ++i) {
      r = r * 1664525u + 1013904223u;
      saved.push_back(Tensor::empty(Shape{int64_t((size_t(3) << 19) + (r >> 8) % (size_t(15) << 19)) / 4}));
    }
    for (int i = 23; i >= 0; --i) {  // "backward": in reverse, each layer takes two gradients of other sizes
      r = r * 1664525u + 1013904223u;
      Tensor g1 = Tensor::empty(Shape{int64_t((size_t(1) << 20) + (r >> 8) % (size_t(12) << 20)) / 4});
      Tensor g2 = Tensor::empty(Shape{int64_t((size_t(2) << 20) + (r >> 12) % (size_t(4) << 20)) / 4});
      saved[size_t(i)] = Tensor();
    }
  };
  step();
  const size_t sys1 = memory_stats(cpu).num_system_allocs;
  step();
  step();
  const MemoryStats s = memory_stats(cpu);
  EXPECT_EQ(s.num_system_allocs, sys1) << "steps after the first still took memory from the system";
  EXPECT_LE(s.reserved, s.peak + (size_t(64) << 20));
  empty_cache(cpu);
}
