// SPDX-License-Identifier: Apache-2.0
// The caching allocator's stream/event bookkeeping (engine/stream_pool.h) against a fake stream model: each stream
// is a queue of work items, an event records the queue length at record time and completes when the test has
// completed that much work. The property: no block is served to a stream while work queued on another stream that
// used it (before it was freed) is still running.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "engine/stream_pool.h"

using namespace leseg;

namespace {

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
  int64_t waits = 0, records = 0;

  void enqueue(StreamId s, int64_t n = 1) { queued[s] += n; }
  void complete(StreamId s) { done[s] = queued[s]; }
  bool finished(StreamId s, int64_t at) { return done[s] >= at; }

  EventId record(StreamId s) override {
    ++records;
    live[next] = {s, queued[s]};
    return reinterpret_cast<EventId>(next++);
  }
  bool query(EventId e) override {
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
