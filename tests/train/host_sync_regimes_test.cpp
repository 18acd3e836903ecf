// SPDX-License-Identifier: Apache-2.0
// Host syncs inside the training step of every regime (docs/execution.md, "Which regimes' steps are sync-free").
// The step boundary is the one of host_sync_step_test.cpp: inside = regime.step, backward, device-side clipping,
// optimizer and scheduler steps, zero_grad; the batch is loaded and its sparse structure built ahead of the step
// (StructureAhead, as the Trainer does). On this CPU build a read of a CPU tensor stands for a device->host copy.
//   * ERDA (3D, point and voxel resolution) and erda2d read nothing inside their steps from the second step on:
//     their unlabelled rows come with the batch (found by the loader), the prototype update counts classes on the
//     device, the query prototypes take host offsets and keep their attention offsets, and the mechanism
//     statistics are queued on the device and read after the step (PendingStats, step_stats()).
//   * Controls: reading those statistics inside the step, or the shuffled-label control (which relabels on the
//     host), are counted: the zero is not vacuous.
//   * The census prints every regime's count (the work left, per regime, for a capturable step); with
//     LESEG_SYNC_REPORT=1 also the last step's syncs with their call stacks (addr2line -C -f -e <test binary>).
//   * The Trainer itself reads the loss terms once per step, after the backward (train/trainer.cpp): a whole
//     Trainer run of ERDA has no read inside its step region.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "engine/host_sync.h"
#include "engine/optim/clip_grad.h"
#include "io/synthetic/dataset.h"
#include "train/job.h"
#include "train/regime.h"
#include "train/structure_ahead.h"
#include "train/trainer.h"
#include "tests/train/train_fixture.h"

using namespace leseg;
using namespace leseg::train;

namespace {

// 6 + 1 small rooms with two 48 x 64 RGB-D views each and geometric sets: every regime can train on it.
const std::string& data_root() {
  static std::string root;
  if (root.empty()) {
    root = (std::filesystem::temp_directory_path() / ("leseg_sync_regimes_" + std::to_string(::getpid())) / "data")
               .string();
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = 6;
    o.val_scenes = 1;
    o.seed = 17;
    o.text_dim = 16;
    o.indoor.num_views = 2;
    o.indoor.height = 48;
    o.indoor.width = 64;
    o.indoor.point_density = 60;
    o.indoor.geometric_segments = true;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

Config regime_config(const std::string& yaml, const std::string& name, const std::vector<std::string>& extra = {}) {
  Config c = Config::from_string(yaml, name + ".yaml");
  const auto out = std::filesystem::path(data_root()).parent_path() / name;
  std::filesystem::remove_all(out);
  c.apply_overrides({"data.root=" + data_root(), "train.out=" + out.string()});
  c.apply_overrides(extra);
  return c;
}

struct StepSyncs {
  std::vector<int64_t> inside;   // per step: syncs inside the step region
  std::string last_report;       // the last step's inside events with their stacks
};

// Three steps as the Trainer runs them; `stats_inside`: also read the regime's statistics inside the region.
StepSyncs count_steps(Config c, bool stats_inside = false, int steps = 3) {
  Job job = build_job(c, JobKind::Train);
  Regime& r = *job.regime;
  r.set_training(true);
  job.train->begin_epoch(0);
  StructureAhead ahead;
  StepSyncs out;
  for (int it = 0; it < steps; ++it) {
    std::optional<Batch> b = job.train->next();
    EXPECT_TRUE(b.has_value());
    if (!b) break;
    ahead.prepare(*b);  // outside the step, as in the Trainer
    HostSyncCounter counter(/*capture_stacks=*/it == steps - 1);
    {
      SyncFreeRegion region("train_step");
      LossTerms t = r.step(*b, 0, it);
      if (stats_inside) (void)r.step_stats();
      t.total().backward();
      std::vector<Tensor> all;
      for (auto& slot : r.optimizers()) all.insert(all.end(), slot.params.begin(), slot.params.end());
      (void)clip_grad_norm_device_(all, 0.5);
      for (auto& slot : r.optimizers()) {
        slot.optimizer->step();
        if (slot.scheduler && !slot.per_epoch) slot.scheduler->step();
        slot.optimizer->zero_grad();
      }
    }
    ahead.record(*b);
    (void)r.step_stats();  // after the step: where the Trainer reads them
    out.inside.push_back(counter.inside_regions());
    if (it == steps - 1) out.last_report = counter.report(true);
  }
  return out;
}

const std::string kData = "data: {batch_size: 2, val_batch_size: 1, voxel_size: 0.2, augment: true, workers: 0";
const std::string kModel = "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n";
const std::string kOptim = "optim: {name: sgd, lr: 0.05, momentum: 0.9}\ntrain: {epochs: 2, log_every: 1, eval_every: -1}\n";

const std::string kErda = "seed: 1\nregime: erda\n" + kData + ", weak_labels: '1%'}\n" + kModel + kOptim;
const std::string kErda2d = "seed: 1\nregime: erda2d\n" + kData +
                            ", views: true, crop_height: 24, crop_width: 32, crop_min_pairs: 8, eval_view_crop: false, "
                            "weak_pixel_labels: '5%'}\n"
                            "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\n"
                            "erda: {temperature: 0.1, attn_dim: 8, heads: 2}\n" + kOptim;

void expect_sync_free_after_first(const StepSyncs& s, const std::string& what) {
  ASSERT_EQ(s.inside.size(), 3u) << what;
  for (size_t it = 1; it < s.inside.size(); ++it)
    EXPECT_EQ(s.inside[it], 0) << what << ", step " << it << ":\n" << s.last_report;
}

}  // namespace

TEST(HostSyncRegimes, ErdaStepReadsNothingOnTheHost) {
  for (const char* res : {"point", "voxel"}) {
    const StepSyncs s = count_steps(regime_config(kErda, std::string("erda_") + res, {std::string("loss.resolution=") + res}));
    expect_sync_free_after_first(s, std::string("erda, resolution ") + res);
    std::printf("erda (%s): host syncs inside steps 0-2: %lld / %lld / %lld\n", res, (long long)s.inside[0],
                (long long)s.inside[1], (long long)s.inside[2]);
  }
  // Controls: the same steps with the statistics read inside, and the shuffled-label control (relabelled on the host).
  const StepSyncs in = count_steps(regime_config(kErda, "erda_stats_inside"), /*stats_inside=*/true);
  EXPECT_EQ(in.inside[2], 1) << "the pending statistics are one read:\n" << in.last_report;
  const StepSyncs sh = count_steps(regime_config(kErda, "erda_shuffled", {"data.label_source=shuffled"}));
  EXPECT_GT(sh.inside[2], 0);
}

TEST(HostSyncRegimes, Erda2dStepReadsNothingOnTheHost) {
  const StepSyncs s = count_steps(regime_config(kErda2d, "erda2d"));
  expect_sync_free_after_first(s, "erda2d");
  // Not even the first: the attention's offsets are made with their host values (attention_offsets).
  EXPECT_EQ(s.inside[0], 0) << s.last_report;
  std::printf("erda2d: host syncs inside steps 0-2: %lld / %lld / %lld\n", (long long)s.inside[0],
              (long long)s.inside[1], (long long)s.inside[2]);
  const StepSyncs in = count_steps(regime_config(kErda2d, "erda2d_stats_inside"), /*stats_inside=*/true);
  EXPECT_EQ(in.inside[2], 1) << in.last_report;
}

// Every regime's count on the same rooms (steps 0, 1, 2): what is left to move out of the step. Only the regimes
// above are held to zero; the others are measured (docs/execution.md has the table and the causes).
TEST(HostSyncRegimes, CensusOfEveryRegime) {
  const std::string views = ", views: true, crop_height: 48, crop_width: 64, crop_min_pairs: 16";
  const std::vector<std::pair<std::string, std::string>> regimes = {
      {"supervised", "seed: 1\nregime: supervised\n" + kData + "}\n" + kModel + kOptim},
      {"supervised_spvcnn", "seed: 1\nregime: supervised\n" + kData + "}\nmodel: {name: SPVCNN}\n" + kOptim},
      {"erda", kErda},
      {"erda2d", kErda2d},
      {"lass3d", "seed: 1\nregime: lass3d\n" + kData + views +
                     ", two_views: true, labelled_fraction: 0.4, labelled_per_batch: 1}\n" + kModel +
                     "lass3d: {saaf_attn_dim: 16, saaf_heads: 2, rampup: 0.2}\nteacher: {momentum: auto}\n" + kOptim},
      {"clip2scene", "seed: 1\nregime: clip2scene\n" + kData + ", views: true}\n" + kModel + kOptim},
      {"hicl", "seed: 1\nregime: hicl\n" + kData + ", views: true}\n" + kModel +
                   "hicl: {intra_from: 0, kl_from: 0, samples: 40}\ntransformer: {heads: 2}\n"
                   "optim_transformer: {name: adamw, lr: 0.001, weight_decay: 0.05}\n" + kOptim},
      {"cns", "seed: 1\nregime: cns\n" + kData + views + ", eval_view_crop: false}\n" + kModel +
                  "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\ncns: {warmup_epochs: 0, sam_dim: 32}\n"
                  "optim2d: {name: sgd, lr: 0.05, momentum: 0.9}\n" + kOptim},
  };
  std::map<std::string, StepSyncs> got;
  std::printf("host syncs inside the step (steps 0 / 1 / 2), 2 rooms per batch:\n");
  for (const auto& [name, yaml] : regimes) {
    got[name] = count_steps(regime_config(yaml, "census_" + name));
    const auto& v = got[name].inside;
    std::printf("  %-18s %4lld / %4lld / %4lld\n", name.c_str(), (long long)v[0], (long long)v[1], (long long)v[2]);
    if (std::getenv("LESEG_SYNC_REPORT")) std::printf("%s\n", got[name].last_report.c_str());  // with call stacks
  }
  for (const char* zero : {"supervised", "erda", "erda2d", "clip2scene", "hicl", "lass3d"})
    expect_sync_free_after_first(got[zero], zero);
  // Not yet: SPVCNN's in-network voxelization, CNS's 2D-3D label transfer of network predictions.
  for (const char* not_yet : {"supervised_spvcnn", "cns"})
    EXPECT_GT(got[not_yet].inside[2], 0) << not_yet << " is sync-free now: move it to the held list above";
}

// The Trainer's own step (train/trainer.cpp) wraps the regime step and the backward in a "train_step" region and
// reads the loss terms and statistics once, after the backward: over a whole ERDA run nothing but the first
// step's sparse structure (no plan yet) is noted inside it.
TEST(HostSyncRegimes, TrainerReadsTheLossOnceAfterTheBackward) {
  Config c = regime_config(kErda, "erda_trainer", {"data.workers=2", "train.epochs=1", "train.clip_grad_norm=1.0"});
  Job job = build_job(c, JobKind::Train);
  job.trainer.verbose = false;
  HostSyncCounter counter;
  const TrainResult res = Trainer(*job.regime, *job.train, job.val.get(), job.trainer).run();
  ASSERT_EQ(res.step_losses.size(), 3u);
  int64_t inside = 0, inside_structure = 0;
  for (const auto& e : counter.events()) {
    if (e.region != "train_step") continue;
    ++inside;
    if (e.kind == HostSyncKind::Structure) ++inside_structure;
  }
  EXPECT_GT(inside_structure, 0);  // step 0 builds its structure inside (no plan yet)
  EXPECT_EQ(inside, inside_structure) << counter.report(true);
  EXPECT_EQ(counter.count(HostSyncKind::ErrorSlot), 3);  // one error-flag read per step
  std::printf("trainer, 3 ERDA steps: %lld host syncs in all (%lld reads, %lld structure), %lld inside the step "
              "(all structure, step 0)\n",
              (long long)counter.total(), (long long)counter.count(HostSyncKind::Read),
              (long long)counter.count(HostSyncKind::Structure), (long long)inside);
}
