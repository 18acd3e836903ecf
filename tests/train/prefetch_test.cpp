// SPDX-License-Identifier: Apache-2.0
// train.prefetch (train/prefetch.h) on the CPU stream model (engine/pinned_pool.h's HostTransferModel: copies run
// only when the consumer waits for their event): the staged batch's copies are queued, not run, until next() hands
// it out; its pinned staging blocks are not handed out again meanwhile; every tensor arrives with the loader's bytes;
// an epoch restart drops the staged batch. And the Trainer with prefetch gives the same losses and weights as
// without, bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <vector>

#include "engine/allocator.h"
#include "engine/checkpoint/checkpoint.h"
#include "train/job.h"
#include "train/prefetch.h"
#include "train/trainer.h"
#include "train_fixture.h"

using namespace leseg;
using namespace leseg::train;

namespace {

Batch make(int k) {
  Batch b;
  b.num_scenes = 1;
  b.scene_names = {"scene" + std::to_string(k)};
  const int64_t n = 50 + k, m = 20;
  std::vector<float> pts(static_cast<size_t>(n * 3)), feats(static_cast<size_t>(m * 3));
  std::vector<int32_t> labels(static_cast<size_t>(n)), coords(static_cast<size_t>(m * 4));
  for (size_t i = 0; i < pts.size(); ++i) pts[i] = float(k * 1000 + int(i)) * 0.5f;
  for (size_t i = 0; i < feats.size(); ++i) feats[i] = float(k) + float(i) * 0.25f;
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = int32_t((i + size_t(k)) % 5);
  for (int64_t r = 0; r < m; ++r) {
    coords[size_t(r * 4)] = 0;
    coords[size_t(r * 4 + 1)] = int32_t(r);
    coords[size_t(r * 4 + 2)] = int32_t(k);
    coords[size_t(r * 4 + 3)] = 1;
  }
  b.points = Tensor::from_vector(pts, Shape{n, 3});
  b.labels = Tensor::from_vector(labels, Shape{n});
  b.pairs = Tensor::empty(Shape{0, 3}, DType::i64);  // no views: an empty tensor goes through too
  b.input = SparseTensor(Tensor::from_vector(coords, Shape{m, 4}), Tensor::from_vector(feats, Shape{m, 3}), 1, 1);
  return b;
}

class ListSource final : public BatchSource {
 public:
  explicit ListSource(int n) : n_(n) {}
  int64_t batches_per_epoch() const override { return n_; }
  void begin_epoch(int64_t, int64_t start) override { pos_ = int(start); }
  std::optional<Batch> next() override {
    if (pos_ >= n_) return std::nullopt;
    ++pulled;
    return make(pos_++);
  }
  int pulled = 0;

 private:
  int n_, pos_ = 0;
};

template <class T>
void expect_bytes(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  EXPECT_EQ(got.to_vector<T>(), want.to_vector<T>()) << what;
}

void* sys_alloc(size_t n) { return alloc_bytes(Device::cpu(), n); }
void sys_free(void* p) { free_bytes(Device::cpu(), p); }

}  // namespace

TEST(Prefetch, CopiesRunOnlyWhenTheBatchIsHandedOutAndArriveIntact) {
  HostTransferModel m;
  PinnedBlockPool pool(&m, PinnedBlockPool::System{&sys_alloc, &sys_free});
  ListSource src(3);
  PrefetchingBatchSource pf(src, m, pool);
  pf.begin_epoch(0, 0);
  std::optional<Batch> b0 = pf.next();  // stages batch 0, waits for it
  ASSERT_TRUE(b0);
  EXPECT_EQ(m.done(m.copy_stream()), m.queued(m.copy_stream()));
  const Batch ref0 = make(0);
  expect_bytes<float>(b0->points, ref0.points, "points");
  expect_bytes<int32_t>(b0->labels, ref0.labels, "labels");
  expect_bytes<int32_t>(b0->input.coords(), ref0.input.coords(), "coords");
  expect_bytes<float>(b0->input.feats(), ref0.input.feats(), "feats");
  ASSERT_TRUE(b0->pairs.defined());
  EXPECT_EQ(b0->pairs.shape(), (Shape{0, 3}));
  EXPECT_FALSE(b0->view_scene.defined());  // undefined stays undefined

  pf.stage_next();  // what the Trainer does once step 0's backward is queued
  EXPECT_EQ(src.pulled, 2);
  EXPECT_TRUE(pf.has_staged());
  EXPECT_GT(m.queued(m.copy_stream()), m.done(m.copy_stream()));  // batch 1's copies are queued, not run
  EXPECT_EQ(pool.pending_blocks(), 4u);  // its 4 pinned staging blocks wait for their copies
  // Meanwhile the host reuses the pool (another staging): it never gets a pending block; scribble over what it gets.
  std::vector<void*> other;
  for (int k = 0; k < 4; ++k) {
    other.push_back(pool.allocate(4096));
    std::memset(other.back(), 0xAB, 4096);
  }
  for (void* p : other) pool.free(p);
  pf.stage_next();  // no-op: one batch is staged already
  EXPECT_EQ(src.pulled, 2);
  std::optional<Batch> b1 = pf.next();
  ASSERT_TRUE(b1);
  const Batch ref1 = make(1);
  expect_bytes<float>(b1->points, ref1.points, "batch 1 points");
  expect_bytes<int32_t>(b1->labels, ref1.labels, "batch 1 labels");
  expect_bytes<float>(b1->input.feats(), ref1.input.feats(), "batch 1 feats");
  EXPECT_EQ(pool.pending_blocks(), 4u);  // cached once the allocator next looks (queried at allocate)
  void* q = pool.allocate(4096);
  EXPECT_EQ(pool.pending_blocks(), 0u);
  pool.free(q);

  // An epoch restart drops a staged batch (after waiting for its copies: its destinations are freed); then the new
  // position's batches come.
  pf.stage_next();
  EXPECT_TRUE(pf.has_staged());
  const int64_t waits = m.host_waits();
  pf.begin_epoch(1, 1);
  EXPECT_FALSE(pf.has_staged());
  EXPECT_EQ(m.host_waits(), waits + 1);
  EXPECT_EQ(m.done(m.copy_stream()), m.queued(m.copy_stream()));
  EXPECT_EQ(m.live_events(), pool.pending_blocks());  // the prefetcher's event is gone; the pool's are queried later
  std::optional<Batch> c = pf.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->scene_names, std::vector<std::string>{"scene1"});
  ASSERT_TRUE(pf.next());
  EXPECT_FALSE(pf.next());  // the epoch ended
  EXPECT_FALSE(pf.next());
}

// The Trainer through the prefetcher (train.prefetch=true on the CPU: HostTransferModel, staged copies): same
// per-step losses and final weights and optimizer state as without, bit for bit.
TEST(Prefetch, TrainerResultsAreIdenticalWithAndWithoutPrefetch) {
  auto run = [](bool prefetch, const std::string& out) {
    Config cfg = leseg::train::testing::tiny_config(out);
    cfg.apply_override(std::string("train.prefetch=") + (prefetch ? "true" : "false"));
    Job job = build_job(cfg, JobKind::Train);
    job.trainer.verbose = false;
    EXPECT_EQ(job.trainer.prefetch, prefetch);
    Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
    return t.run();
  };
  const std::string a = leseg::train::testing::scratch("prefetch_off"), b = leseg::train::testing::scratch("prefetch_on");
  TrainResult off = run(false, a), on = run(true, b);
  ASSERT_EQ(off.step_losses.size(), 8u);
  ASSERT_EQ(on.step_losses.size(), off.step_losses.size());
  for (size_t i = 0; i < off.step_losses.size(); ++i)
    EXPECT_EQ(std::memcmp(&on.step_losses[i], &off.step_losses[i], sizeof(double)), 0) << "step " << i + 1;
  Checkpoint ca = load_checkpoint(off.last_checkpoint), cb = load_checkpoint(on.last_checkpoint);
  ASSERT_EQ(ca.model.size(), cb.model.size());
  ASSERT_GT(ca.model.size(), 10u);
  for (auto* pair : {&ca.model, &ca.optimizer}) {
    const StateDict& other = pair == &ca.model ? cb.model : cb.optimizer;
    for (auto& [k, v] : *pair) {
      auto it = other.find(k);
      ASSERT_NE(it, other.end()) << k;
      ASSERT_EQ(v.nbytes(), it->second.nbytes()) << k;
      EXPECT_EQ(std::memcmp(v.data_ptr(), it->second.data_ptr(), v.nbytes()), 0) << "tensor differs: " << k;
    }
  }
}

TEST(Prefetch, DefaultIsOffOnTheCpu) {
  Config cfg = leseg::train::testing::tiny_config(leseg::train::testing::scratch("prefetch_default"));
  Job job = build_job(cfg, JobKind::Train);
  EXPECT_FALSE(job.trainer.prefetch);
  EXPECT_FALSE(job.trainer.cuda_graph);
}
