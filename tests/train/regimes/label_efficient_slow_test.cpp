// SPDX-License-Identifier: Apache-2.0
// Real learning assertions for LASS3D and CNS (issue 20): on a small fixed budget, each regime beats its negative
// control — the same run with its pseudo-labels shuffled (data.label_source=shuffled: uniform random classes, docs/evidence.md) — on held-out
// rooms. Same data, seed, network and budget for both runs of a pair; the figures are printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "io/synthetic/dataset.h"
#include "train/job.h"
#include "train/trainer.h"

using namespace leseg;
using namespace leseg::train;

namespace {

// 6 training + 3 validation rooms with 2 small RGB-D views each (CLIP-like labels, SAM masks, captions).
const std::string& rooms() {
  static std::string root;
  if (root.empty()) {
    root = (std::filesystem::temp_directory_path() / ("leseg_learn_slow_" + std::to_string(::getpid())) / "data").string();
    std::filesystem::remove_all(root);
    io::synth::SyntheticDatasetOptions o;
    o.train_scenes = 6;
    o.val_scenes = 3;
    o.seed = 21;
    o.text_dim = 32;
    o.indoor.num_views = 2;
    o.indoor.height = 48;
    o.indoor.width = 64;
    o.indoor.point_density = 150;
    io::synth::write_synthetic_dataset(root, o);
  }
  return root;
}

TrainResult run(const std::string& yaml, const std::string& name, const std::vector<std::string>& extra) {
  Config c = Config::from_string(yaml, name + ".yaml");
  const auto out = std::filesystem::path(rooms()).parent_path() / name;
  std::filesystem::remove_all(out);
  c.apply_overrides({"data.root=" + rooms(), "train.out=" + out.string()});
  c.apply_overrides(extra);
  Job job = build_job(c, JobKind::Train);
  job.trainer.verbose = false;
  return Trainer(*job.regime, *job.train, job.val.get(), job.trainer).run();
}

const char* kLass3d =
    "seed: 0\nregime: lass3d\n"
    "data: {batch_size: 2, val_batch_size: 3, voxel_size: 0.2, augment: true, workers: 0, views: true, two_views: true,\n"
    "       crop_height: 48, crop_width: 64, crop_min_pairs: 16, labelled_fraction: 0.2, labelled_per_batch: 1}\n"
    "model: {name: MinkUNet14A, planes: [16, 16, 16, 16, 16, 16, 16, 16], init_dim: 16}\n"
    "lass3d: {saaf_attn_dim: 16, saaf_heads: 2, rampup: 0.2}\n"
    "teacher: {momentum: auto}\n"
    "optim: {name: sgd, lr: 0.1, momentum: 0.9, sched: {name: cosine, unit: step, warmup: 0}}\n"
    "train: {epochs: 8, log_every: 100, eval_every: 0}\n";

const char* kCns =
    "seed: 0\nregime: cns\n"
    "data: {batch_size: 2, val_batch_size: 3, voxel_size: 0.2, augment: true, workers: 0, views: true, max_views: 2,\n"
    "       crop_height: 48, crop_width: 64, crop_min_pairs: 16, eval_view_crop: false, pseudo_labels: vote_then_project}\n"
    "model: {name: MinkUNet14A, planes: [16, 16, 16, 16, 16, 16, 16, 16], init_dim: 16}\n"
    "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\n"
    "cns: {warmup_epochs: 4, lsc: none, sam_dim: 32}\n"
    "optim: {name: sgd, lr: 0.1, momentum: 0.9, sched: {name: cosine, unit: step, warmup: 0}}\n"
    "optim2d: {name: sgd, lr: 0.1, momentum: 0.9, sched: {name: cosine, unit: step, warmup: 0}}\n"
    "train: {epochs: 8, log_every: 100, eval_every: 0}\n";

}  // namespace

// LASS3D (defaults: SAAF, progressive NL, KD) against the same run with the teacher's pseudo-labels shuffled among
// the unlabelled points: 1 labelled + 5 unlabelled rooms, 40 paired batches.
TEST(LabelEfficientSlow, Lass3dBeatsItsNegativeControl) {
  TrainResult a = run(kLass3d, "lass3d_full", {});
  TrainResult s = run(kLass3d, "lass3d_shuffled", {"data.label_source=shuffled"});
  const double acc_a = a.last_eval.value("accuracy", 0.0), acc_s = s.last_eval.value("accuracy", 0.0);
  std::printf("lass3d: val mIoU %.1f (accuracy %.1f) vs shuffled control %.1f (%.1f); pseudo-label accuracy %.1f vs %.1f\n",
              100 * a.last_miou, 100 * acc_a, 100 * s.last_miou, 100 * acc_s,
              100 * a.last_eval.value("pseudo_accuracy", 0.0), 100 * s.last_eval.value("pseudo_accuracy", 0.0));
  // measured (2026-12-06, 2-core machine): mIoU 9.9 vs 8.2, accuracy 65.4 vs 58.3, pseudo-label accuracy 54.1 vs 5.0;
  // after the one-pass conv backward (2026-12-07: the same gradients in another float summation order) mIoU 10.2 vs
  // 8.8, accuracy 65.2 vs 60.7, pseudo-label accuracy 54.1 vs 5.0. One seed, 40 batches: the accuracy margin moves by
  // a few points with the bits alone (7.1, then 4.5), so it is held to 2 points; the pseudo-labels' margin (49 points)
  // is the mechanism and stays at 5.
  EXPECT_GT(a.last_miou, s.last_miou + 0.01);
  EXPECT_GT(acc_a, acc_s + 0.02);
  EXPECT_GT(a.last_eval.value("pseudo_accuracy", 0.0), s.last_eval.value("pseudo_accuracy", 0.0) + 0.05);
}

// CNS (label-free) against the same run with its drawn targets shuffled: 6 rooms, 24 steps (stage 1 for 4 epochs).
TEST(LabelEfficientSlow, CnsBeatsItsNegativeControl) {
  TrainResult a = run(kCns, "cns_full", {});
  TrainResult s = run(kCns, "cns_shuffled", {"data.label_source=shuffled"});
  const double acc_a = a.last_eval.value("accuracy", 0.0), acc_s = s.last_eval.value("accuracy", 0.0);
  std::printf("cns: val 3D mIoU %.1f (accuracy %.1f) vs shuffled control %.1f (%.1f); 2D %.1f vs %.1f; 3D net on its "
              "training points %.1f vs %.1f\n",
              100 * a.last_miou, 100 * acc_a, 100 * s.last_miou, 100 * acc_s, 100 * a.last_eval.value("miou_2d", 0.0),
              100 * s.last_eval.value("miou_2d", 0.0), 100 * a.last_eval.value("miou_train_net_3d", 0.0),
              100 * s.last_eval.value("miou_train_net_3d", 0.0));
  // measured (2026-12-06): 3D mIoU 3.3 vs 0.9, accuracy 43.3 vs 5.3, 3D net on its training points 4.5 vs 1.0
  EXPECT_GT(a.last_miou, s.last_miou + 0.01);
  EXPECT_GT(acc_a, acc_s + 0.05);
}
