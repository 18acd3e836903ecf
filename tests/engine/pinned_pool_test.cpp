// SPDX-License-Identifier: Apache-2.0
// Pinned staging (engine/pinned_pool.h) against the CPU stream model HostTransferModel, where a queued copy runs only
// when the host waits for it (or the test runs the stream): a pinned block that an asynchronous copy still has to
// read is never handed out again before that copy ran, so the device receives the bytes staged for it. The control
// (no record_stream) shows the same sequence delivering the wrong bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/allocator.h"
#include "engine/pinned_pool.h"

using namespace leseg;

namespace {
int g_sys_allocs = 0;
void* sys_alloc(size_t n) {
  ++g_sys_allocs;
  return alloc_bytes(Device::cpu(), n);
}
void sys_free(void* p) { free_bytes(Device::cpu(), p); }
const PinnedBlockPool::System kSys{&sys_alloc, &sys_free};

// Stages `v` through the pool and queues its copy into dst on the copy stream, as the prefetcher does.
void* stage(PinnedBlockPool& pool, HostTransferModel& m, const std::vector<float>& v, float* dst, bool record = true) {
  void* p = pool.allocate(v.size() * sizeof(float));
  std::memcpy(p, v.data(), v.size() * sizeof(float));
  m.copy_async(dst, p, v.size() * sizeof(float), m.copy_stream());
  if (record) pool.record_stream(p, m.copy_stream());
  pool.free(p);
  return p;
}
}  // namespace

TEST(PinnedPool, SizeClassesArePowersOfTwoFrom4KiB) {
  EXPECT_EQ(pinned_size_class(0), 4096u);
  EXPECT_EQ(pinned_size_class(1), 4096u);
  EXPECT_EQ(pinned_size_class(4096), 4096u);
  EXPECT_EQ(pinned_size_class(4097), 8192u);
  EXPECT_EQ(pinned_size_class(size_t(3) << 20), size_t(4) << 20);
}

TEST(PinnedPool, BlockIsNotReusedBeforeItsCopyRan) {
  HostTransferModel m;
  PinnedBlockPool pool(&m, kSys);
  std::vector<float> dev_a(100, -1.f), dev_b(100, -1.f);
  const std::vector<float> a(100, 1.f), b(100, 2.f);
  void* pa = stage(pool, m, a, dev_a.data());
  EXPECT_EQ(pool.pending_blocks(), 1u);  // its copy has not run
  void* pb = stage(pool, m, b, dev_b.data());
  EXPECT_NE(pa, pb);                      // so batch b got another block
  EXPECT_EQ(pool.system_allocs(), 2u);
  m.run(m.copy_stream());                 // both copies run now: each reads what was staged for it
  EXPECT_EQ(dev_a, a);
  EXPECT_EQ(dev_b, b);
  void* pc = pool.allocate(400);          // the events completed: a cached block comes back
  EXPECT_TRUE(pc == pa || pc == pb);
  EXPECT_EQ(pool.system_allocs(), 2u);
  pool.free(pc);
}

TEST(PinnedPool, ComputeWaitRunsTheCopiesUpToTheEvent) {
  HostTransferModel m;
  PinnedBlockPool pool(&m, kSys);
  std::vector<float> d1(10, 0.f), d2(10, 0.f);
  stage(pool, m, std::vector<float>(10, 3.f), d1.data());
  EventId e1 = m.record(m.copy_stream());
  stage(pool, m, std::vector<float>(10, 4.f), d2.data());
  EXPECT_EQ(m.done(m.copy_stream()), 0);
  m.stream_wait(m.compute_stream(), e1);  // the consumer of the first batch waits for its copies only
  EXPECT_EQ(d1, std::vector<float>(10, 3.f));
  EXPECT_EQ(d2, std::vector<float>(10, 0.f));
  EXPECT_EQ(m.done(m.copy_stream()), 1);
  m.release(e1);
  m.run(m.copy_stream());
  EXPECT_EQ(d2, std::vector<float>(10, 4.f));
}

// The control: without record_stream the block is cached at once, the next staging refills it while the first copy
// is still queued, and the first destination receives the second batch's bytes.
TEST(PinnedPool, WithoutRecordStreamTheQueuedCopyReadsOverwrittenBytes) {
  HostTransferModel m;
  PinnedBlockPool pool(&m, kSys);
  std::vector<float> dev_a(100, -1.f), dev_b(100, -1.f);
  void* pa = stage(pool, m, std::vector<float>(100, 1.f), dev_a.data(), /*record=*/false);
  void* pb = stage(pool, m, std::vector<float>(100, 2.f), dev_b.data(), /*record=*/false);
  EXPECT_EQ(pa, pb);
  m.run(m.copy_stream());
  EXPECT_EQ(dev_a, std::vector<float>(100, 2.f));  // wrong: batch a's copy read batch b's staging
}

TEST(PinnedPool, EmptyCacheWaitsForPendingBlocksAndReturnsThem) {
  HostTransferModel m;
  g_sys_allocs = 0;
  {
    PinnedBlockPool pool(&m, kSys);
    std::vector<float> d(8, 0.f);
    stage(pool, m, std::vector<float>(8, 5.f), d.data());
    EXPECT_EQ(pool.pending_blocks(), 1u);
    pool.empty_cache();  // waits for the copy (the host runs the stream), then frees
    EXPECT_EQ(d, std::vector<float>(8, 5.f));
    EXPECT_EQ(pool.pending_blocks(), 0u);
    EXPECT_EQ(pool.cached_blocks(), 0u);
    EXPECT_GE(m.host_waits(), 1);
    void* p = pool.allocate(16);
    EXPECT_EQ(pool.system_allocs(), 2u);
    pool.free(p);
  }
  EXPECT_EQ(g_sys_allocs, 2);
  EXPECT_EQ(m.live_events(), 0u);
}

TEST(PinnedPool, DoubleFreeIsRefused) {
  HostTransferModel m;
  PinnedBlockPool pool(&m, kSys);
  void* p = pool.allocate(10);
  pool.free(p);
  EXPECT_THROW(pool.free(p), std::exception);
  int x = 0;
  EXPECT_THROW(pool.free(&x), std::exception);
}

TEST(PinnedPool, ProcessPoolWorksWithoutADevice) {
  PinnedBlockPool& pool = pinned_pool();
  void* p = pool.allocate(1000);
  std::memset(p, 7, 1000);
  pool.free(p);
  void* q = pool.allocate(1000);
  EXPECT_EQ(p, q);  // no stream read it: cached at once
  pool.free(q);
}
