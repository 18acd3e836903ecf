// SPDX-License-Identifier: Apache-2.0
// Data-parallel training under `mpirun -np 2` (tests/distributed/CMakeLists.txt). Every rank also trains the
// one-process reference itself (a local communicator, batch 2B), so the comparisons need no files between ranks.
// Model: MinkUNet14A with 8-channel planes on 4 synthetic rooms (train/train_fixture.h), SGD with momentum and
// weight decay, cosine schedule, augmentation and shuffling on; 3 epochs × 2 optimizer steps.
//
// What "the same" means here (docs/distributed.md):
//  - sync BN on: K ranks × B scenes compute the same objective and the same gradients as one process on K·B
//    scenes, up to float rounding: the per-rank sums of the CE, the BN statistics (reduced in f64) and of the
//    weight gradients are added in a different order than one process adds them (float32 rounding, ~1e-7
//    relative per sum, which momentum and 6 steps amplify). Measured: losses agree to 8e-8 relative (one float
//    ulp), all weights together to 6e-7 (relative L2), the worst single tensor (a BN bias near zero) to 2.4e-4 of
//    its largest entry; without sync BN the same comparison gives 1.2, so the tolerances below (losses 1e-6,
//    weights 1e-5 L2 and 1e-3 per tensor) separate the two by orders of magnitude. Not bit-exact: no reduction
//    order makes a 2-way split of the point sums equal the single sum.
//  - sync BN off: each rank normalises with its own batch's statistics, which is a different function of the
//    data than one process's; what holds is that every rank ends with bit-identical weights and buffers, that
//    the run is deterministic (bitwise equal when repeated), and that it differs from the sync-BN run.
//  - resume: a 2-rank run stopped at step 3 and resumed equals the uninterrupted 2-rank run bit for bit.
//  - evaluation: each rank evaluates its shard; the summed confusion matrix equals one process's over all scenes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <unistd.h>

#include "engine/distributed/comm.h"
#include "train/evaluate.h"
#include "train/job.h"
#include "train/trainer.h"
#include "../train/train_fixture.h"

namespace fs = std::filesystem;
using namespace leseg;
using namespace leseg::train;

namespace {

dist::Communicator& world() { return dist::world(); }

// This executable keeps GoogleTest's own main (the ranks share rank 0's data set, so a per-process TMPDIR that
// rank 0 removes at exit could go while rank 1 still reads it). After every test of every rank has run (barrier),
// each rank removes the folders it made: temp_directory_path()/leseg_*_<pid>.
class RemoveScratchAtEnd : public ::testing::Environment {
 public:
  void TearDown() override {
    world().barrier();
    std::error_code ec;
    const std::string suffix = "_" + std::to_string(::getpid());
    for (const auto& e : fs::directory_iterator(fs::temp_directory_path(ec), ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("leseg_", 0) == 0 && n.size() > suffix.size() &&
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
        std::error_code rm;
        fs::remove_all(e.path(), rm);
      }
    }
  }
};
[[maybe_unused]] ::testing::Environment* const kRemoveScratch =
    ::testing::AddGlobalTestEnvironment(new RemoveScratchAtEnd);

// One dataset for every rank: rank 0 writes it, the others use its path (the config fingerprint compares paths).
const std::string& shared_dataset() {
  static std::string root;
  if (root.empty()) {
    if (world().rank() == 0) root = leseg::train::testing::tiny_dataset(4, 5);
    world().broadcast(root, 0);
  }
  return root;
}

// A folder of this process only (rank 1 must not write a dataset of its own through testing::scratch).
std::string local_scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("leseg_dp_" + std::to_string(::getpid())) / name;
  fs::remove_all(p);
  return p.string();
}

std::string shared_scratch(const std::string& name) {
  std::string p;
  if (world().rank() == 0) p = local_scratch(name);
  world().broadcast(p, 0);
  world().barrier();
  return p;
}

Config config(const std::string& out, int batch, bool sync_bn) {
  Config c = leseg::train::testing::tiny_config(out);
  c.apply_overrides({"data.root=" + shared_dataset(), "data.batch_size=" + std::to_string(batch),
                     "model.sync_bn=" + std::string(sync_bn ? "true" : "false"), "train.epochs=3"});
  return c;
}

struct RunOut {
  TrainResult res;
  StateDict state;
};

RunOut train_run(Config cfg, dist::Communicator* comm, const std::string& resume = "") {
  Job job = build_job(cfg, JobKind::Train, "", comm);
  job.trainer.verbose = false;
  job.trainer.resume = resume;
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  RunOut r;
  r.res = t.run();
  for (auto& [k, v] : job.regime->state()) r.state[k] = v.clone();
  return r;
}

uint64_t fingerprint(const StateDict& sd) {
  uint64_t h = 1469598103934665603ull;
  for (auto& [k, v] : sd) {
    const auto* p = static_cast<const unsigned char*>(v.data_ptr());
    for (size_t i = 0; i < v.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

// Every rank holds the same bits.
void expect_identical_on_every_rank(const StateDict& sd) {
  const std::vector<uint64_t> all = world().all_gather(fingerprint(sd));
  for (size_t r = 1; r < all.size(); ++r) EXPECT_EQ(all[r], all[0]) << "rank " << r << "'s state differs from rank 0's";
}

// max over floating tensors of max|a − b| / max(max|a|, 1e-3): the worst relative deviation at a tensor's scale.
double max_rel_diff(const StateDict& a, const StateDict& b, std::string* worst = nullptr) {
  double m = 0;
  for (auto& [k, va] : a) {
    if (va.dtype() != DType::f32) continue;
    const Tensor& vb = b.at(k);
    std::vector<float> x = va.to_vector<float>(), y = vb.to_vector<float>();
    double scale = 1e-3, d = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      scale = std::max(scale, double(std::fabs(x[i])));
      d = std::max(d, double(std::fabs(x[i] - y[i])));
    }
    if (d / scale > m) {
      m = d / scale;
      if (worst) *worst = k;
    }
  }
  return m;
}

// ‖a − b‖₂ / ‖a‖₂ over every floating tensor together.
double global_rel_l2(const StateDict& a, const StateDict& b) {
  double num = 0, den = 0;
  for (auto& [k, va] : a) {
    if (va.dtype() != DType::f32) continue;
    std::vector<float> x = va.to_vector<float>(), y = b.at(k).to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) {
      num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
      den += double(x[i]) * x[i];
    }
  }
  return std::sqrt(num / den);
}

bool bit_equal(const StateDict& a, const StateDict& b) {
  if (a.size() != b.size()) return false;
  for (auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || v.nbytes() != it->second.nbytes() ||
        std::memcmp(v.data_ptr(), it->second.data_ptr(), v.nbytes()) != 0)
      return false;
  }
  return true;
}

}  // namespace

TEST(MpiTraining, TwoRanksEqualOneRankWithTheGlobalBatchSyncBN) {
  ASSERT_EQ(world().size(), 2) << "run under mpirun -np 2";
  auto local = dist::make_local_communicator();
  RunOut ref = train_run(config(local_scratch("dp_ref"), 2, true), local.get());
  RunOut dp = train_run(config(shared_scratch("dp_sync"), 1, true), &world());
  ASSERT_EQ(ref.res.steps, 6);
  ASSERT_EQ(dp.res.steps, 6);
  ASSERT_EQ(dp.res.step_losses.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_NEAR(dp.res.step_losses[i], ref.res.step_losses[i], 1e-6 * std::fabs(ref.res.step_losses[i])) << "step " << i + 1;
  std::string worst;
  const double d = max_rel_diff(ref.state, dp.state, &worst);
  double dl = 0;
  for (size_t i = 0; i < 6; ++i) dl = std::max(dl, std::fabs(dp.res.step_losses[i] - ref.res.step_losses[i]) / ref.res.step_losses[i]);
  std::printf("[rank %d] 2 ranks x 1 vs 1 rank x 2 (sync BN): max relative loss difference %.3g, weights: global "
              "relative L2 %.3g, worst tensor %.3g (%s); comm %.3f s of %.3f s\n",
              world().rank(), dl, global_rel_l2(ref.state, dp.state), d, worst.c_str(), dp.res.comm_seconds, dp.res.seconds);
  EXPECT_LT(global_rel_l2(ref.state, dp.state), 1e-5);
  EXPECT_LT(d, 1e-3) << worst;
  EXPECT_NE(ref.res.step_losses[0], ref.res.step_losses[5]);  // it trained
  expect_identical_on_every_rank(dp.state);
}

TEST(MpiTraining, WithoutSyncBNRanksAgreeAndTheRunIsDeterministic) {
  ASSERT_EQ(world().size(), 2);
  RunOut a = train_run(config(shared_scratch("dp_nosync_a"), 1, false), &world());
  RunOut b = train_run(config(shared_scratch("dp_nosync_b"), 1, false), &world());
  RunOut s = train_run(config(shared_scratch("dp_nosync_s"), 1, true), &world());
  ASSERT_EQ(a.res.steps, 6);
  expect_identical_on_every_rank(a.state);  // weights and (broadcast) BN buffers
  EXPECT_TRUE(bit_equal(a.state, b.state)) << "two identical 2-rank runs differ";
  EXPECT_EQ(a.res.step_losses, b.res.step_losses);
  // Per-rank BN statistics are a different function of the data than global ones.
  EXPECT_FALSE(bit_equal(a.state, s.state));
  auto local = dist::make_local_communicator();
  RunOut ref = train_run(config(local_scratch("dp_ref2"), 2, true), local.get());
  std::printf("[rank %d] sync BN off vs 1 rank x 2: max relative weight difference %.3g (sync BN on: %.3g)\n",
              world().rank(), max_rel_diff(ref.state, a.state), max_rel_diff(ref.state, s.state));
}

TEST(MpiTraining, OverlappedReductionGivesTheSameBits) {
  ASSERT_EQ(world().size(), 2);
  // Small buckets (64 KiB): many all-reduces, most of them started during the backward.
  Config on = config(shared_scratch("dp_overlap_on"), 1, true), off = config(shared_scratch("dp_overlap_off"), 1, true);
  on.apply_overrides({"distributed.bucket_mb=0.0625", "distributed.overlap=true"});
  off.apply_overrides({"distributed.bucket_mb=0.0625", "distributed.overlap=false"});
  Job job = build_job(on, JobKind::Train, "", &world());
  job.trainer.verbose = false;
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  TrainResult r_on = t.run();
  StateDict s_on;
  for (auto& [k, v] : job.regime->state()) s_on[k] = v.clone();
  RunOut r_off = train_run(off, &world());
  EXPECT_GT(r_on.overlapped_buckets, 0) << "no bucket started during a backward";
  EXPECT_EQ(r_off.res.overlapped_buckets, 0);
  std::printf("[rank %d] overlap: %lld buckets started during the backward over 6 steps\n", world().rank(),
              static_cast<long long>(r_on.overlapped_buckets));
  EXPECT_EQ(r_on.step_losses, r_off.res.step_losses);
  EXPECT_TRUE(bit_equal(s_on, r_off.state)) << "overlapped and post-backward reductions differ";
}

TEST(MpiTraining, ResumeOfATwoRankRunIsBitIdentical) {
  ASSERT_EQ(world().size(), 2);
  RunOut full = train_run(config(shared_scratch("dp_resume_full"), 1, true), &world());
  const std::string out = shared_scratch("dp_resume_part");
  Config first = config(out, 1, true);
  first.apply_override("train.max_steps=3");
  RunOut part1 = train_run(first, &world());
  ASSERT_EQ(part1.res.steps, 3);
  EXPECT_FALSE(part1.res.finished);
  if (world().rank() == 0) EXPECT_FALSE(part1.res.last_checkpoint.empty());
  else EXPECT_TRUE(part1.res.last_checkpoint.empty()) << "only rank 0 writes checkpoints";
  world().barrier();
  RunOut part2 = train_run(config(out, 1, true), &world(), out);
  ASSERT_EQ(part2.res.steps, 6);
  ASSERT_EQ(part2.res.step_losses.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(part1.res.step_losses[i], full.res.step_losses[i]) << "step " << i + 1;
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(part2.res.step_losses[i], full.res.step_losses[3 + i]) << "step " << i + 4;
  EXPECT_TRUE(bit_equal(full.state, part2.state)) << "resumed 2-rank run differs from the uninterrupted one";
  expect_identical_on_every_rank(part2.state);
}

TEST(MpiTraining, ShardedEvaluationSumsToTheWholeSplit) {
  ASSERT_EQ(world().size(), 2);
  // 5 validation scenes, 2 per rank per batch: global batches of 4 + 1 (rank 0's share of the last is empty).
  Config c = config(shared_scratch("dp_eval"), 1, true);
  c.apply_overrides({"train.eval_every=0", "train.epochs=1"});
  RunOut dp = train_run(c, &world());
  ASSERT_TRUE(dp.res.last_eval.contains("miou"));
  auto local = dist::make_local_communicator();
  Config e = config(local_scratch("dp_eval_ref"), 1, true);
  Job job = build_job(e, JobKind::Eval, "", local.get());
  job.regime->load(dp.state);
  ConfusionMatrix cm = evaluate(*job.regime, *job.val, job.trainer.num_classes, job.trainer.ignore_index);
  const nlohmann::json want = cm.to_json(job.info.classes);
  EXPECT_GT(cm.total(), 0);
  EXPECT_EQ(dp.res.last_eval["miou"], want["miou"]);
  EXPECT_EQ(dp.res.last_eval["accuracy"], want["accuracy"]);
  EXPECT_EQ(dp.res.last_eval["iou"], want["iou"]);
}

TEST(MpiTraining, ConfigMismatchIsAnErrorOnEveryRank) {
  ASSERT_EQ(world().size(), 2);
  Config c = config(shared_scratch("dp_mismatch"), 1, true);
  if (world().rank() == 1) c.apply_override("optim.lr=0.07");
  try {
    train_run(c, &world());
    FAIL() << "a config that differs between ranks must fail at start-up";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different configuration than rank 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rank(s) 1"), std::string::npos) << e.what();
  }
}
