// SPDX-License-Identifier: Apache-2.0
#include "train/job.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/precision_default.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/error.h"
#include "io/check.h"
#include "io/datasets/scene_io.h"
#include "train/conv_settings.h"

namespace fs = std::filesystem;

namespace leseg::train {

Job build_job(Config& cfg, JobKind kind, const std::string& out_dir, dist::Communicator* comm) {
  Job job;
  job.seed = cfg.get<uint64_t>("seed", 0);
  manual_seed(job.seed);
  const std::string device = cfg.get<std::string>("device", "cpu");
  job.device = Device::parse(device);
  // Data parallelism (train/distributed.h): the keys are read whatever the world size, so configs validate alike.
  if (!comm) comm = &dist::world();
  const int rank = comm->rank(), world = comm->size();
  DistributedOptions& dopt = job.trainer.distributed;
  dopt.comm = comm;
  dopt.sync_bn = cfg.get<bool>("model.sync_bn", false);
  dopt.loss_weighting = cfg.get<std::string>("distributed.loss_weighting", "rows");
  dopt.bucket_mb = cfg.get<double>("distributed.bucket_mb", 25.0);
  dopt.overlap = cfg.get<bool>("distributed.overlap", true);
  const double timeout = cfg.get<double>("distributed.timeout_s", comm->timeout_s());
  if (world > 1 && !std::getenv("LESEG_DIST_TIMEOUT")) comm->set_timeout_s(timeout);  // the variable wins
  if (world > 1 && device == "cuda") job.device = Device::cuda(comm->local_rank() % std::max(1, cuda_device_count()));
  if (world > 1 && job.device.is_cuda() && comm == &dist::world()) dopt.comm = &dist::world_for(job.device);  // NCCL
  const std::string regime = cfg.get<std::string>("regime", "supervised");

  // data
  const std::string root = cfg.get<std::string>("data.root");
  LESEG_CHECK(fs::is_directory(root), "config: key 'data.root' = '", root,
              "': no such directory (generate the synthetic set with `leseg data synth --out ", root, "`)");
  LESEG_CHECK(fs::exists(fs::path(root) / "dataset.json"), "config: key 'data.root' = '", root,
              "': missing file '", (fs::path(root) / "dataset.json").string(), "'");
  job.info = io::read_dataset_info(root);
  io::loader::LoaderOptions lo;
  lo.seed = job.seed;
  lo.batch_size = cfg.get<int64_t>("data.batch_size", 2);
  lo.num_workers = cfg.get<int>("data.workers", 2);
  lo.prefetch = cfg.get<int>("data.prefetch", 4);
  lo.shard_rank = rank;  // data.batch_size is per rank: the global batch is batch_size × world size
  lo.shard_count = world;
  lo.batch.voxel_size = cfg.get<double>("data.voxel_size", 0.05);
  lo.batch.features.color = cfg.get<bool>("data.color", true);
  lo.batch.features.normals = cfg.get<bool>("data.normals", false);
  lo.batch.features.intensity = cfg.get<bool>("data.intensity", false);
  lo.batch.views.enabled = cfg.get<bool>("data.views", false);
  io::loader::ViewOptions& vo = lo.batch.views;  // views (only read when data.views: true)
  if (vo.enabled) {
    vo.max_views = cfg.get<int>("data.max_views", vo.max_views);
    vo.crop_options.out_height = cfg.get<int>("data.crop_height", vo.crop_options.out_height);
    vo.crop_options.out_width = cfg.get<int>("data.crop_width", vo.crop_options.out_width);
    vo.crop_options.min_pairs = cfg.get<int64_t>("data.crop_min_pairs", vo.crop_options.min_pairs);
    vo.hflip = cfg.get<double>("data.view_hflip", vo.hflip);
    // data.pseudo_labels: project (raw CLIP labels projected to points) | vote_then_project (voted in SAM masks first)
    const std::string pl = cfg.get<std::string>("data.pseudo_labels", "project");
    LESEG_CHECK(pl == "project" || pl == "vote_then_project",
                "config: key 'data.pseudo_labels' must be project or vote_then_project, got '", pl, "'");
    vo.vote_in_masks = pl == "vote_then_project";
  }
  LESEG_CHECK(lo.batch.features.channels() > 0, "config: keys 'data.color', 'data.normals', 'data.intensity' are all false: no input feature");
  io::loader::AugmentOptions& au = lo.batch.augment;
  au.enabled = cfg.get<bool>("data.augment", true);
  au.rotate_z = cfg.get<bool>("data.aug.rotate_z", au.rotate_z);
  au.flip_x = cfg.get<double>("data.aug.flip_x", au.flip_x);
  au.flip_y = cfg.get<double>("data.aug.flip_y", au.flip_y);
  au.scale_lo = cfg.get<double>("data.aug.scale_lo", au.scale_lo);
  au.scale_hi = cfg.get<double>("data.aug.scale_hi", au.scale_hi);
  au.jitter_sigma = cfg.get<double>("data.aug.jitter_sigma", au.jitter_sigma);
  au.jitter_clip = cfg.get<double>("data.aug.jitter_clip", au.jitter_clip);
  au.color_jitter_sigma = cfg.get<double>("data.aug.color_jitter_sigma", au.color_jitter_sigma);
  au.color_drop = cfg.get<double>("data.aug.color_drop", au.color_drop);
  const std::string weak = cfg.get<std::string>("data.weak_labels", "");
  if (!weak.empty() && fs::is_regular_file(weak))  // a saved table (e.g. a run's weak_labels.txt)
    lo.labels.weak_table = std::make_shared<const io::loader::WeakLabelTable>(io::loader::read_weak_labels(weak));
  else if (!weak.empty())
    lo.labels.weak_spec = io::loader::WeakLabelSpec::parse(weak, job.seed);
  // data.weak_pixel_labels ("1%", "0.1%", "20pts"): weak labels on the views' label images (ERDA's 2D variant),
  // drawn on the full images before cropping, deterministic in (run seed, scene, view); training only.
  const std::string weak_px = cfg.get<std::string>("data.weak_pixel_labels", "");
  if (!weak_px.empty() && kind == JobKind::Train) lo.labels.weak_view_spec = io::loader::WeakLabelSpec::parse(weak_px, job.seed);
  const std::string train_split = cfg.get<std::string>("data.train_split", "train");
  const std::string val_split = cfg.get<std::string>("data.val_split", "val");
  const int max_train = cfg.get<int>("data.max_train_scenes", -1);
  const int max_val = cfg.get<int>("data.max_val_scenes", -1);
  const int64_t val_batch = cfg.get<int64_t>("data.val_batch_size", lo.batch_size);
  io::SceneReadOptions ro;
  ro.views = lo.batch.views.enabled;
  auto source = [&](const std::string& split, int max_scenes) {
    LESEG_CHECK(fs::exists(fs::path(root) / (split + ".txt")), "config: data split '", split, "': missing file '",
                (fs::path(root) / (split + ".txt")).string(), "'");
    std::vector<std::string> names = io::read_split(root, split);
    LESEG_CHECK(!names.empty(), "config: data split '", split, "' of '", root, "' lists no scenes");
    if (max_scenes > 0 && int(names.size()) > max_scenes) names.resize(size_t(max_scenes));
    std::vector<std::string> dirs;
    for (auto& n : names) {
      dirs.push_back((fs::path(root) / "scenes" / n).string());
      LESEG_CHECK(fs::is_directory(dirs.back()), "dataset '", root, "': split '", split, "' names scene '", n,
                  "' but '", dirs.back(), "' does not exist");
    }
    return io::loader::directory_source(dirs, ro);
  };
  // Semi-supervised scene split (LASS3D): labelled_fraction < 1 keeps the labels of min(n, max(floor(f n), 1))
  // training scenes chosen from data.split_seed (fixed across run seeds, like published split files); written
  // to <run>/labelled_scenes.txt below. two_views: a second augmentation of every scene (MeanTeacher teacher).
  lo.two_views = cfg.get<bool>("data.two_views", false);
  const double labelled_fraction = cfg.get<double>("data.labelled_fraction", 1.0);
  const uint64_t split_seed = cfg.get<uint64_t>("data.split_seed", 0);
  LESEG_CHECK(labelled_fraction > 0.0 && labelled_fraction <= 1.0, "config: key 'data.labelled_fraction' = ",
              labelled_fraction, " must lie in (0, 1]");
  std::vector<std::string> labelled, train_names;
  if (kind == JobKind::Train && labelled_fraction < 1.0) {
    train_names = io::read_split(root, train_split);
    if (max_train > 0 && int(train_names.size()) > max_train) train_names.resize(size_t(max_train));
    labelled = io::loader::choose_labelled_scenes(train_names, labelled_fraction, split_seed);
    lo.labels.labelled_scenes = std::set<std::string>(labelled.begin(), labelled.end());
  }
  // data.labelled_per_batch = L > 0: every training batch holds L labelled scenes (an endless stream over the
  // labelled split) and batch_size − L unlabelled ones; an epoch is one pass over the unlabelled scenes.
  const int64_t labelled_per_batch = cfg.get<int64_t>("data.labelled_per_batch", 0);
  LESEG_CHECK(labelled_per_batch >= 0, "config: key 'data.labelled_per_batch' = ", labelled_per_batch, " must be >= 0");
  LESEG_CHECK(labelled_per_batch == 0 || labelled_fraction < 1.0, "config: key 'data.labelled_per_batch' = ",
              labelled_per_batch, " needs a semi-supervised split (data.labelled_fraction < 1)");
  if (kind == JobKind::Train) lo.labelled_per_batch = labelled_per_batch;
  // Every scene of the splits this job reads is checked before anything is trained (io/check.h): a bad
  // validation scene must not end a finished training, and every problem names the scene, file and index.
  if (cfg.get<bool>("data.check", true) && kind != JobKind::Infer) {
    io::CheckOptions co;
    co.voxel_size = lo.batch.voxel_size;
    co.max_scale = au.enabled ? std::max(1.0, au.scale_hi) : 1.0;
    co.views = lo.batch.views.enabled;
    io::CheckReport rep;
    const int C = int(job.info.classes.size());
    auto names_of = [&](const std::string& split, int max_scenes) {
      std::vector<std::string> n;
      if (fs::exists(fs::path(root) / (split + ".txt"))) n = io::read_split(root, split);
      if (max_scenes > 0 && int(n.size()) > max_scenes) n.resize(size_t(max_scenes));
      return n;
    };
    if (kind == JobKind::Train) io::check_split(root, train_split, names_of(train_split, max_train), C, co, rep);
    io::check_split(root, val_split, names_of(val_split, max_val), C, co, rep);
    LESEG_CHECK(rep.ok(), "dataset '", root, "' failed the data check before ", kind == JobKind::Train ? "training" : "evaluation",
                " (nothing was run; `leseg data check ", root, "` lists every problem; data.check=false skips it):\n",
                rep.str(20));
    const bool evaluates = kind == JobKind::Eval || cfg.get<int64_t>("train.eval_every", 1) >= 0;
    LESEG_CHECK(!evaluates || rep.split_labelled[val_split] > 0, "dataset '", root, "': no point of validation split '",
                val_split, "' (", rep.split_scenes[val_split],
                " scenes) carries a label in [0, C): the evaluation would score no class (set train.eval_every=-1 to "
                "train without evaluating)");
    LESEG_CHECK(kind != JobKind::Train || regime != "supervised" || rep.split_labelled[train_split] > 0, "dataset '", root,
                "': no point of training split '", train_split, "' (", rep.split_scenes[train_split],
                " scenes) carries a label in [0, C): regime 'supervised' would learn nothing");
    for (const auto& w : rep.warnings) std::fprintf(stderr, "warning: %s\n", w.str().c_str());
  }
  job.eval_batch = lo.batch;
  job.eval_batch.augment.enabled = false;
  job.eval_batch.views.hflip = 0.0;
  if (vo.enabled) job.eval_batch.views.crop = cfg.get<bool>("data.eval_view_crop", true);  // false: full views
  if (kind == JobKind::Train) job.train = std::make_unique<LoaderBatchSource>(source(train_split, max_train), lo);
  if (kind != JobKind::Infer) {
    io::loader::LoaderOptions v = lo;
    v.shuffle = false;
    v.batch = job.eval_batch;
    v.batch_size = val_batch;
    v.labels = {};
    v.two_views = false;
    v.labelled_per_batch = 0;
    v.shard_keep_short = true;  // every validation scene once; the ranks' confusion matrices are summed
    job.val = std::make_unique<LoaderBatchSource>(source(val_split, max_val), v);
  }

  // trainer
  TrainerOptions& to = job.trainer;
  to.epochs = cfg.get<int64_t>("train.epochs", 10);
  to.max_steps = cfg.get<int64_t>("train.max_steps", -1);
  to.accumulate = cfg.get<int>("train.accumulate", 1);
  to.log_every = cfg.get<int64_t>("train.log_every", 10);
  to.ckpt_every = cfg.get<int64_t>("train.ckpt_every", 0);
  to.keep_checkpoints = cfg.get<int>("train.keep_checkpoints", 2);
  to.eval_every = cfg.get<int64_t>("train.eval_every", 1);
  to.clip_grad_norm = cfg.get<double>("train.clip_grad_norm", 0.0);
  {  // train.precision: default bf16 on a CUDA device that computes in it (sm_80+), f32 elsewhere
    const std::string pr = cfg.get<std::string>("train.precision", "default");
    to.precision = pr == "default" ? default_precision(job.device) : parse_precision(pr);
    to.loss_scaler.growth_interval = cfg.get<int64_t>("train.loss_scale_growth_interval", 2000);
    LESEG_CHECK(to.loss_scaler.growth_interval >= 1, "train.loss_scale_growth_interval: ",
                to.loss_scaler.growth_interval, " must be >= 1");
  }
  // train.conv_variant / train.conv_autotune (train/config.h): the sparse-conv variant of every conv layer
  apply_conv_settings(read_conv_settings(cfg, to.precision, job.device.is_cuda()));
  to.tensorboard = cfg.get<bool>("train.tensorboard", false);
  to.device = job.device;
  to.prefetch = cfg.get<bool>("train.prefetch", job.device.is_cuda());  // docs/execution.md
  to.cuda_graph = cfg.get<bool>("train.cuda_graph", false);
  std::string default_out = "runs/" + fs::path(cfg.origin()).stem().string();
  const std::string cfg_out = cfg.get<std::string>("train.out", default_out);
  to.out_dir = out_dir.empty() ? cfg_out : out_dir;
  // Weak labels are saved with the run: <out>/weak_labels.txt holds the kept point indices of every training scene.
  if (kind == JobKind::Train && lo.labels.weak_spec && !to.out_dir.empty() && rank == 0) {
    fs::create_directories(to.out_dir);
    io::loader::make_weak_label_file(root, train_split, *lo.labels.weak_spec,
                                     (fs::path(to.out_dir) / "weak_labels.txt").string());
  }
  to.num_classes = int(job.info.classes.size());
  to.ignore_index = job.info.ignore_index;
  to.class_names = job.info.classes;
  if (!train_names.empty() && !to.out_dir.empty() && rank == 0) {
    fs::create_directories(to.out_dir);
    io::loader::write_scene_split((fs::path(to.out_dir) / "labelled_scenes.txt").string(), labelled,
                                  labelled_fraction, split_seed, int64_t(train_names.size()));
  }

  // regime
  job.regime = create_regime(regime);
  BuildContext ctx;
  ctx.device = job.device;
  ctx.epochs = to.epochs;
  // Eval / infer jobs build the same schedules as training did (so schedule keys validate identically).
  int64_t nb = 1;
  if (job.train) {
    nb = job.train->batches_per_epoch();
  } else if (fs::exists(fs::path(root) / (train_split + ".txt"))) {
    int64_t n = int64_t(io::read_split(root, train_split).size());
    if (max_train > 0) n = std::min<int64_t>(n, max_train);
    if (labelled_per_batch > 0 && labelled_per_batch < lo.batch_size) {  // paired batches: the unlabelled pass
      n -= io::loader::num_labelled_scenes(n, labelled_fraction);
      const int64_t b = lo.batch_size - labelled_per_batch;
      nb = std::max<int64_t>(1, (n + b - 1) / b);
    } else {
      nb = std::max<int64_t>(1, (n + lo.batch_size - 1) / lo.batch_size);
    }
  }
  ctx.steps_per_epoch = (nb + to.accumulate - 1) / to.accumulate;
  ctx.training = kind == JobKind::Train;
  ctx.num_classes = to.num_classes;
  ctx.in_channels = int(lo.batch.features.channels());
  ctx.seed = job.seed;
  ctx.text_embeddings = job.info.text_embeddings;
  job.regime->build(cfg, ctx);
  cfg.check_unused();
  to.config = nlohmann::json::parse("{}");
  to.config["yaml"] = cfg.dump();
  to.config["origin"] = cfg.origin();
  return job;
}

std::string load_weights(Job& job, const std::string& checkpoint) {
  LESEG_CHECK(fs::exists(checkpoint), "--checkpoint: '", checkpoint, "' does not exist");
  std::string dir = checkpoint;
  if (!fs::exists(fs::path(dir) / "meta.json")) {
    std::optional<std::string> l = latest_checkpoint((fs::path(dir) / "checkpoints").string());
    if (!l) l = latest_checkpoint(dir);
    LESEG_CHECK(l.has_value(), "--checkpoint: '", checkpoint,
                "' is neither a checkpoint directory (meta.json) nor a run folder with checkpoints/latest");
    dir = *l;
  }
  Checkpoint ck = load_checkpoint(dir, Device::cpu());
  job.regime->load(ck.model);
  return dir;
}

}  // namespace leseg::train
