// SPDX-License-Identifier: Apache-2.0
#include "train/job.h"

#include <filesystem>
#include <fstream>

#include "engine/checkpoint/checkpoint.h"
#include "engine/error.h"
#include "io/datasets/scene_io.h"

namespace fs = std::filesystem;

namespace leseg::train {

Job build_job(Config& cfg, JobKind kind, const std::string& out_dir) {
  Job job;
  job.seed = cfg.get<uint64_t>("seed", 0);
  manual_seed(job.seed);
  job.device = Device::parse(cfg.get<std::string>("device", "cpu"));
  const std::string regime = cfg.get<std::string>("regime", "supervised");

  // data
  const std::string root = cfg.get<std::string>("data.root");
  LESEG_CHECK(fs::is_directory(root), "config: key 'data.root' = '", root,
              "': no such directory (generate the synthetic set with `leseg data synth --out ", root, "`)");
  LESEG_CHECK(fs::exists(fs::path(root) / "dataset.json"), "config: key 'data.root' = '", root,
              "': missing file '", (fs::path(root) / "dataset.json").string(), "'");
  job.info = io::read_dataset_info(root);
  SceneSourceOptions so;
  so.voxel_size = job.voxel_size = cfg.get<double>("data.voxel_size", 0.05);
  so.normals = job.normals = cfg.get<bool>("data.normals", false);
  so.seed = job.seed;
  so.batch_size = cfg.get<int>("data.batch_size", 2);
  const std::string train_split = cfg.get<std::string>("data.train_split", "train");
  const std::string val_split = cfg.get<std::string>("data.val_split", "val");
  const int max_train = cfg.get<int>("data.max_train_scenes", -1);
  const int max_val = cfg.get<int>("data.max_val_scenes", -1);
  const bool augment = cfg.get<bool>("data.augment", true);
  so.labels_per_scene = cfg.get<int64_t>("data.labels_per_scene", -1);
  const int val_batch = cfg.get<int>("data.val_batch_size", so.batch_size);
  if (kind == JobKind::Train) {
    SceneSourceOptions t = so;
    t.augment = augment;
    t.shuffle = true;
    job.train = std::make_unique<SceneBatchSource>(SceneBatchSource::read_split_scenes(root, train_split, max_train), t);
  }
  if (kind != JobKind::Infer) {
    SceneSourceOptions v = so;
    v.augment = false;
    v.shuffle = false;
    v.labels_per_scene = -1;
    v.batch_size = val_batch;
    job.val = std::make_unique<SceneBatchSource>(SceneBatchSource::read_split_scenes(root, val_split, max_val), v);
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
  std::string default_out = "runs/" + fs::path(cfg.origin()).stem().string();
  const std::string cfg_out = cfg.get<std::string>("train.out", default_out);
  to.out_dir = out_dir.empty() ? cfg_out : out_dir;
  to.num_classes = int(job.info.classes.size());
  to.ignore_index = job.info.ignore_index;
  to.class_names = job.info.classes;

  // regime
  job.regime = create_regime(regime);
  BuildContext ctx;
  ctx.device = job.device;
  ctx.epochs = to.epochs;
  const int64_t nb = job.train ? job.train->batches_per_epoch() : 1;
  ctx.steps_per_epoch = (nb + to.accumulate - 1) / to.accumulate;
  ctx.num_classes = to.num_classes;
  ctx.in_channels = so.normals ? 6 : 3;
  ctx.seed = job.seed;
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
