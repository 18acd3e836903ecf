// SPDX-License-Identifier: Apache-2.0
// CUDA backend of the core: caching allocator reuse and stats, host<->device copies, casts and the
// Philox stream (identical uniforms and integer words on CPU and CUDA; normals within a few ulp).
#include <gtest/gtest.h>

#include <cmath>

#include "engine/allocator.h"
#include "engine/rng.h"
#include "engine/tensor.h"

using namespace leseg;

#define REQUIRE_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason()

TEST(CudaCore, CachingAllocatorReusesBlocks) {
  REQUIRE_CUDA();
  Device g = Device::cuda(0);
  empty_cache(g);
  reset_peak_memory(g);
  MemoryStats s0 = memory_stats(g);
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty(Shape{1000}, DType::f32, g);
    first = a.data_ptr();
    EXPECT_EQ(memory_stats(g).in_use - s0.in_use, cuda_size_class(4000));
  }
  EXPECT_EQ(memory_stats(g).in_use, s0.in_use);
  size_t sys = memory_stats(g).num_system_allocs;
  Tensor b = Tensor::empty(Shape{900}, DType::f32, g);  // same size class: served from the cache
  EXPECT_EQ(b.data_ptr(), first);
  EXPECT_EQ(memory_stats(g).num_system_allocs, sys);
  EXPECT_GE(memory_stats(g).peak, cuda_size_class(4000));
  b = Tensor();
  empty_cache(g);
  EXPECT_EQ(memory_stats(g).reserved, memory_stats(g).in_use);
}

TEST(CudaCore, OutOfMemoryIsAClearError) {
  REQUIRE_CUDA();
  try {
    Tensor::empty(Shape{int64_t(1) << 42}, DType::f32, Device::cuda(0));  // 16 TiB
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA out of memory"), std::string::npos) << e.what();
  }
}

TEST(CudaCore, CopiesAndCastsRoundTrip) {
  REQUIRE_CUDA();
  Tensor h = Tensor::randn(Shape{1031}, 3);
  Tensor d = h.to(Device::cuda(0));
  EXPECT_EQ(d.to(Device::cpu()).to_vector<float>(), h.to_vector<float>());
  for (DType t : {DType::f16, DType::bf16, DType::f64, DType::i32}) {
    auto cpu = h.to(t).to(DType::f32).to_vector<float>();
    auto gpu = d.to(t).to(DType::f32).to(Device::cpu()).to_vector<float>();
    EXPECT_EQ(cpu, gpu) << dtype_name(t);  // shared rounding code: identical bits
  }
}

TEST(CudaCore, PhiloxSameStreamOnBothDevices) {
  REQUIRE_CUDA();
  for (uint64_t seed : {0ull, 42ull, 0xdeadbeefcafeull}) {
    Generator gc(seed, 5), gg(seed, 5);
    gc.advance(17);
    gg.advance(17);
    auto uc = rand(Shape{4099}, gc).to_vector<float>();
    auto ug = rand(Shape{4099}, gg, DType::f32, Device::cuda(0)).to_vector<float>();
    EXPECT_EQ(uc, ug);
    auto nc = randn(Shape{4099}, gc).to_vector<float>();
    auto ng = randn(Shape{4099}, gg, DType::f32, Device::cuda(0)).to_vector<float>();
    for (size_t i = 0; i < nc.size(); ++i) ASSERT_NEAR(nc[i], ng[i], 4e-6f * (1 + std::abs(nc[i]))) << i;
    EXPECT_EQ(gc.offset(), gg.offset());
  }
}

// The profiler's device column (CUDA events at every timing boundary): a step of CUDA work is charged to its
// rows, and the device total covers the GEMMs of the forward.
#include <cstdio>

#include "engine/nvtx.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/profiler.h"

TEST(CudaCore, ProfilerDeviceColumn) {
  REQUIRE_CUDA();
  const bool prev = profiler::enabled();
  profiler::reset();
  profiler::enable(true);
  Device g = Device::cuda(0);
  Tensor a = Tensor::randn(Shape{1024, 1024}, 1).to(g);
  {
    NvtxScope f("leseg::forward");
    for (int i = 0; i < 8; ++i) a = matmul(a, a) * 0.001;
  }
  { NvtxScope o("leseg::optimizer"); }
  const std::string t = profiler::table(100);
  profiler::enable(prev);
  profiler::reset();
  ASSERT_NE(t.find("device ms"), std::string::npos) << t;
  const size_t at = t.find("device time (CUDA events on the current stream): ");
  ASSERT_NE(at, std::string::npos) << t;
  double total_s = -1;
  ASSERT_EQ(std::sscanf(t.c_str() + at, "device time (CUDA events on the current stream): %lf", &total_s), 1) << t;
  EXPECT_GT(total_s, 0.0) << t;  // 8 GEMMs of 1024^3: well above the events' resolution
  EXPECT_NE(t.find("fwd:matmul"), std::string::npos) << t;
}
