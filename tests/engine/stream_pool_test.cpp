// SPDX-License-Identifier: Apache-2.0
// The caching allocator's stream/event bookkeeping (engine/stream_pool.h) against a fake stream model: each stream
// is a queue of work items, an event records the queue length at record time and completes when the test has
// completed that much work. The property: no block is served to a stream while work queued on another stream that
// used it (before it was freed) is still running.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <random>
#include <set>

#include "engine/stream_pool.h"

using namespace leseg;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

StreamId stream(int i) { return reinterpret_cast<StreamId>(uintptr_t(0x1000 + i)); }
void* block(int i) { return reinterpret_cast<void*>(uintptr_t(0x100000 + 0x1000 * i)); }

class FakeStreams final : public StreamEventModel {
 public:
  // Work queued / completed per stream.
  std::map<StreamId, int64_t> queued, done;
  struct Ev {
    StreamId s;
    int64_t at;
  };
  std::map<uintptr_t, Ev> live;
  uintptr_t next = 1;
  int64_t waits = 0, records = 0, queries = 0;

  void enqueue(StreamId s, int64_t n = 1) { queued[s] += n; }
  void complete(StreamId s) { done[s] = queued[s]; }
  bool finished(StreamId s, int64_t at) { return done[s] >= at; }

  EventId record(StreamId s) override {
    ++records;
    live[next] = {s, queued[s]};
    return reinterpret_cast<EventId>(next++);
  }
  bool query(EventId e) override {
    ++queries;
    const Ev& ev = live.at(reinterpret_cast<uintptr_t>(e));
    return done[ev.s] >= ev.at;
  }
  void wait(EventId e) override {
    ++waits;
    const Ev& ev = live.at(reinterpret_cast<uintptr_t>(e));
    done[ev.s] = std::max(done[ev.s], ev.at);  // the host blocks until the stream got there
  }
  void release(EventId e) override { ASSERT_EQ(live.erase(reinterpret_cast<uintptr_t>(e)), 1u); }
};

}  // namespace

TEST(StreamBlockPool, SameStreamReuseNeedsNoEvent) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 512, stream(0));
  pool.record_stream(block(0), stream(0));
  EXPECT_FALSE(pool.used_on_other_streams(block(0)));
  fs.enqueue(stream(0));  // a kernel still reads the block: stream order makes the next user wait for it
  EXPECT_TRUE(pool.free(block(0)));
  EXPECT_EQ(pool.take(512, stream(0)), block(0));
  EXPECT_EQ(fs.records, 0);
}

TEST(StreamBlockPool, BlockParkedForItsStreamIsNotServedToAnother) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 512, stream(0));
  pool.free(block(0));
  EXPECT_EQ(pool.take(512, stream(1)), nullptr);
  EXPECT_EQ(pool.take(512, stream(0)), block(0));
}

TEST(StreamBlockPool, CrossStreamUseWaitsForItsEvent) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  // Allocated on the copy stream (1), consumed on the compute stream (0): the review's prefetch use-after-free.
  pool.add_live(block(0), 4096, stream(1));
  pool.record_stream(block(0), stream(0));
  fs.enqueue(stream(0), 3);  // compute kernels reading the batch
  pool.free(block(0));
  EXPECT_EQ(pool.pending_blocks(), 1u);
  EXPECT_EQ(pool.take(4096, stream(1)), nullptr) << "served before the compute stream finished reading it";
  fs.enqueue(stream(0), 2);  // later work on the compute stream does not delay the event recorded at free
  fs.done[stream(0)] = 2;
  EXPECT_EQ(pool.take(4096, stream(1)), nullptr);
  fs.done[stream(0)] = 3;
  EXPECT_EQ(pool.take(4096, stream(1)), block(0));
  EXPECT_TRUE(fs.live.empty());  // every event released
}

TEST(StreamBlockPool, EveryUsingStreamMustFinish) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 512, stream(0));
  pool.record_stream(block(0), stream(1));
  pool.record_stream(block(0), stream(2));
  pool.record_stream(block(0), stream(0));  // its own stream: no event needed
  EXPECT_TRUE(pool.used_on_other_streams(block(0)));
  fs.enqueue(stream(1));
  fs.enqueue(stream(2));
  pool.free(block(0));
  EXPECT_EQ(fs.records, 2);
  fs.complete(stream(1));
  EXPECT_EQ(pool.take(512, stream(0)), nullptr);
  fs.complete(stream(2));
  EXPECT_EQ(pool.take(512, stream(0)), block(0));
}

TEST(StreamBlockPool, ReuseClearsTheUseSet) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 512, stream(0));
  pool.record_stream(block(0), stream(1));
  pool.free(block(0));
  fs.complete(stream(1));
  ASSERT_EQ(pool.take(512, stream(0)), block(0));
  pool.free(block(0));  // this life never left stream 0: parked at once, no event
  EXPECT_EQ(fs.records, 1);
  EXPECT_EQ(pool.take(512, stream(0)), block(0));
}

TEST(StreamBlockPool, BestFitWithinTwice) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 4096, stream(0));
  pool.add_live(block(1), 1024, stream(0));
  pool.free(block(0));
  pool.free(block(1));
  EXPECT_EQ(pool.take(512, stream(0)), block(1));   // 1024 <= 2 * 512
  EXPECT_EQ(pool.take(1024, stream(0)), nullptr);   // 4096 > 2 * 1024
  EXPECT_EQ(pool.take(2048, stream(0)), block(0));
}

TEST(StreamBlockPool, DoubleFreeAndForeignPointersAreRefused) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 512, stream(0));
  EXPECT_TRUE(pool.free(block(0)));
  EXPECT_FALSE(pool.free(block(0)));
  EXPECT_FALSE(pool.free(block(9)));
  EXPECT_THROW(pool.record_stream(block(9), stream(1)), Error);
}

TEST(StreamBlockPool, ReleaseKeepsPendingBlocksAndDrainWaitsForThem) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  pool.add_live(block(0), 512, stream(0));
  pool.add_live(block(1), 512, stream(0));
  pool.record_stream(block(1), stream(1));
  fs.enqueue(stream(1));
  pool.free(block(0));
  pool.free(block(1));
  auto r = pool.release_free();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, block(0));  // block 1 may still be read on stream 1: not handed to cudaFree
  EXPECT_EQ(pool.pending_blocks(), 1u);
  pool.drain();
  EXPECT_EQ(fs.waits, 1);
  r = pool.release_free();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, block(1));
  EXPECT_TRUE(fs.live.empty());
}

// Random programs over 3 streams and 6 blocks: every block the pool serves to stream s has no unfinished use on any
// other stream from its previous lives (the invariant that makes cross-stream reuse safe).
TEST(StreamBlockPool, RandomProgramsNeverReuseBeforeTheEvent) {
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    std::mt19937 rng(seed);
    FakeStreams fs;
    StreamBlockPool pool(&fs);
    struct Use {
      StreamId s;
      int64_t at;  // queue position the use reaches
    };
    std::map<void*, StreamId> live;           // block -> stream that holds it
    std::map<void*, std::vector<Use>> uses;   // uses on streams, across lives
    int next_block = 0;
    int64_t served_from_cache = 0;
    for (int op = 0; op < 400; ++op) {
      const int kind = int(rng() % 5);
      const StreamId s = stream(int(rng() % 3));
      if (kind == 0) {  // allocate on s
        const size_t sz = size_t(512) << (rng() % 3);
        void* p = pool.take(sz, s);
        if (p) {
          ++served_from_cache;
          for (const Use& u : uses[p])
            if (u.s != s)
              ASSERT_TRUE(fs.finished(u.s, u.at)) << "seed " << seed << " op " << op
                                                 << ": block reused before work on another stream finished";
          uses[p].clear();
        } else {
          p = block(next_block++);
          pool.add_live(p, sz, s);
        }
        live[p] = s;
        fs.enqueue(s);
        uses[p].push_back({s, fs.queued[s]});
      } else if (kind == 1 && !live.empty()) {  // use a live block on s (record_stream first, as the contract says)
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        pool.record_stream(it->first, s);
        fs.enqueue(s);
        uses[it->first].push_back({s, fs.queued[s]});
      } else if (kind == 2 && !live.empty()) {  // free
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        ASSERT_TRUE(pool.free(it->first));
        live.erase(it);
      } else if (kind == 3) {  // a stream makes progress
        const int64_t q = fs.queued[s];
        fs.done[s] = std::min(q, fs.done[s] + int64_t(rng() % 3));
      } else if (kind == 4 && rng() % 8 == 0) {
        pool.release_free();
      }
    }
    EXPECT_GT(served_from_cache, 0) << "seed " << seed << ": the program never exercised reuse";
  }
}

// ---- CUDA-graph pools ------------------------------------------------------------------------------------------

TEST(GraphPool, CapturedBlocksAreReusedInTheCaptureAndNeverServeEagerRequests) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  const StreamId s0 = stream(0), s1 = stream(1);
  void* general = block(50);
  pool.add_live(general, 512, s0);
  ASSERT_TRUE(pool.free(general));  // a general block parked for s0 before the capture

  pool.begin_capture(7, s0);
  EXPECT_TRUE(pool.capturing());
  EXPECT_EQ(pool.take(512, s0), nullptr) << "a capture must not take a general block";
  void *a = block(1), *b = block(2);
  pool.add_live(a, 512, s0);
  pool.add_live(b, 1024, s0);
  EXPECT_EQ(pool.pool_of(a), 7u);
  void* other = block(3);  // another stream during the capture: an ordinary block
  EXPECT_EQ(pool.take(512, s1), nullptr);
  pool.add_live(other, 512, s1);
  EXPECT_EQ(pool.pool_of(other), 0u);
  ASSERT_TRUE(pool.free(a));
  EXPECT_EQ(pool.take(512, s0), a) << "freed inside the capture: reused by the capture (capture-stream order)";
  ASSERT_TRUE(pool.free(a));
  pool.end_capture(s0);
  EXPECT_FALSE(pool.capturing());

  // Eager requests on the capture stream get the general block, never the graph's.
  EXPECT_EQ(pool.take(512, s0), general);
  EXPECT_EQ(pool.take(512, s0), nullptr);
  ASSERT_TRUE(pool.free(b));  // an output freed later still goes back to the graph's pool
  EXPECT_EQ(pool.take(1024, s0), nullptr);
  EXPECT_EQ(pool.pool_blocks(7), 2u);
  // empty_cache / out-of-memory: the graph's blocks stay (a replay writes them).
  pool.free(general);
  pool.free(other);
  const auto released = pool.release_free();
  EXPECT_EQ(released.size(), 2u);
  for (auto& [p, sz] : released) EXPECT_TRUE(p == general || p == other);
  EXPECT_EQ(pool.pool_blocks(7), 2u);

  // A second graph may share the pool (graphs replayed in capture order).
  pool.begin_capture(7, s1);
  void* a2 = pool.take(512, s1);
  EXPECT_EQ(a2, a);
  EXPECT_NE(error_of([&] { pool.release_pool(7); }).find("while a capture into it is open"), std::string::npos);
  pool.end_capture(s1);

  // The graphs are gone: cached blocks back to the caller, live ones become ordinary blocks of their stream.
  const auto back = pool.release_pool(7);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].first, b);
  EXPECT_EQ(pool.pool_of(a), 0u);
  ASSERT_TRUE(pool.free(a));
  EXPECT_EQ(pool.take(512, s0), a);
  EXPECT_EQ(pool.pool_blocks(7), 0u);
}

TEST(GraphPool, ACaptureQueriesAndWaitsForNoEvent) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  const StreamId s0 = stream(0), s1 = stream(1), s2 = stream(2);
  void* p = block(1);
  pool.add_live(p, 512, s0);
  pool.record_stream(p, s1);
  fs.enqueue(s1);
  ASSERT_TRUE(pool.free(p));  // pending on an event of s1
  ASSERT_EQ(pool.pending_blocks(), 1u);
  pool.begin_capture(3, s2);
  const int64_t q = fs.queries, w = fs.waits;
  EXPECT_EQ(pool.take(512, s2), nullptr);
  EXPECT_EQ(pool.take(512, s0), nullptr);
  pool.drain();
  EXPECT_TRUE(pool.release_free().empty());
  EXPECT_EQ(fs.queries, q) << "an event query during a capture invalidates it";
  EXPECT_EQ(fs.waits, w);
  EXPECT_EQ(pool.pending_blocks(), 1u);
  pool.end_capture(s2);
  fs.complete(s1);
  EXPECT_EQ(pool.take(512, s0), p);  // after the capture, events are processed again
}

TEST(GraphPool, MisuseIsAClearError) {
  FakeStreams fs;
  StreamBlockPool pool(&fs);
  EXPECT_NE(error_of([&] { pool.begin_capture(0, stream(0)); }).find("id 0 is the general pool"), std::string::npos);
  pool.begin_capture(1, stream(0));
  EXPECT_NE(error_of([&] { pool.begin_capture(2, stream(0)); }).find("already captures into graph pool 1"),
            std::string::npos);
  pool.end_capture(stream(0));
  EXPECT_NE(error_of([&] { pool.end_capture(stream(0)); }).find("has no open capture"), std::string::npos);
  EXPECT_TRUE(pool.release_pool(9).empty());  // an unknown pool holds nothing
}

// Random programs with captures: no block obtained by a capture is served to an eager request while its pool lives, a
// capture takes only its own pool's blocks, no event is queried during a capture, and release_free never hands back
// a living pool's memory (the stream/event rule itself: RandomProgramsNeverReuseBeforeTheEvent).
TEST(GraphPool, RandomProgramsKeepGraphMemoryForTheGraph) {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    FakeStreams fs;
    StreamBlockPool pool(&fs);
    std::map<void*, StreamId> live;
    std::map<void*, uint64_t> owner;  // block -> graph pool that obtained it (0: eager), while that pool lives
    std::set<uint64_t> alive_pools;
    std::map<StreamId, uint64_t> capturing;
    uint64_t next_pool = 1;
    int next_block = 0;
    int64_t graph_reuse = 0;
    for (int op = 0; op < 500; ++op) {
      const int kind = int(rng() % 7);
      const StreamId s = stream(int(rng() % 3));
      const auto cap = capturing.find(s);
      if (kind <= 1) {  // allocate on s
        const size_t sz = size_t(512) << (rng() % 2);
        const int64_t queries = fs.queries;
        void* p = pool.take(sz, s);
        if (!capturing.empty()) ASSERT_EQ(fs.queries, queries) << "seed " << seed << " op " << op;
        if (p) {
          const uint64_t o = owner.count(p) ? owner[p] : 0;
          if (cap == capturing.end())
            ASSERT_FALSE(o != 0 && alive_pools.count(o)) << "seed " << seed << " op " << op
                                                        << ": an eager request got graph pool " << o << "'s block";
          else {
            ASSERT_EQ(o, cap->second) << "seed " << seed << " op " << op << ": a capture took a foreign block";
            ++graph_reuse;
          }
        } else {
          p = block(next_block++);
          pool.add_live(p, sz, s);
          owner[p] = cap == capturing.end() ? 0 : cap->second;
        }
        live[p] = s;
      } else if (kind == 2 && !live.empty()) {  // free
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        ASSERT_TRUE(pool.free(it->first));
        live.erase(it);
      } else if (kind == 3) {  // open or close a capture on s
        if (cap == capturing.end()) {
          const uint64_t id = !alive_pools.empty() && rng() % 2 ? *alive_pools.begin() : next_pool++;
          alive_pools.insert(id);
          pool.begin_capture(id, s);
          capturing[s] = id;
        } else {
          pool.end_capture(s);
          capturing.erase(cap);
        }
      } else if (kind == 4 && !alive_pools.empty() && rng() % 4 == 0) {  // a graph is destroyed
        const uint64_t id = *alive_pools.begin();
        bool open = false;
        for (auto& [cs, cid] : capturing) open |= cid == id;
        if (open) continue;
        for (auto& [p, sz] : pool.release_pool(id)) {
          ASSERT_EQ(owner[p], id);
          owner.erase(p);  // back to the system
        }
        for (auto& [p, o] : owner)
          if (o == id) o = 0;  // live ones become ordinary
        alive_pools.erase(id);
      } else if (kind == 5) {
        for (auto& [p, sz] : pool.release_free()) {
          ASSERT_TRUE(capturing.empty());
          ASSERT_FALSE(owner[p] != 0 && alive_pools.count(owner[p])) << "seed " << seed << ": graph memory released";
          owner.erase(p);
        }
      } else if (kind == 6 && !live.empty()) {  // cross-stream use, then progress
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        if (pool.pool_of(it->first) == 0) {
          pool.record_stream(it->first, s);
          fs.enqueue(s);
        }
        fs.complete(s);
      }
    }
    EXPECT_GT(graph_reuse, 0) << "seed " << seed << ": no capture ever reused its pool";
  }
}

TEST(StreamBlockPool, AFailedEventRecordLeaksTheBlockInsteadOfReusingIt) {
  struct Broken final : StreamEventModel {
    int released = 0;
    EventId record(StreamId) override { throw std::runtime_error("sticky device error"); }
    bool query(EventId) override { return true; }
    void wait(EventId) override {}
    void release(EventId) override { ++released; }
  } model;
  StreamBlockPool pool(&model);
  void* p = block(1);
  pool.add_live(p, 512, stream(0));
  pool.record_stream(p, stream(1));
  EXPECT_THROW(pool.free(p), std::runtime_error);
  EXPECT_EQ(pool.leaked_blocks(), 1u);
  EXPECT_EQ(pool.live_blocks(), 0u);
  EXPECT_EQ(pool.take(512, stream(0)), nullptr);
  EXPECT_EQ(pool.size_of(p), 0u);
  EXPECT_FALSE(pool.free(p));
}
