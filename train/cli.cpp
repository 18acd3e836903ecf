// SPDX-License-Identifier: Apache-2.0
#include "train/cli.h"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "engine/distributed/comm.h"
#include "engine/error.h"
#include "engine/profiler.h"
#include "io/check.h"
#include "kernels/common/isa.h"
#include "io/convert.h"
#include "io/datasets/scene_io.h"
#include "io/synthetic/calibration.h"
#include "io/synthetic/dataset.h"
#include "models/registry.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/infer.h"
#include "train/job.h"
#include "train/progress.h"
#include "train/report/report.h"
#include "train/report/viewer.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace leseg::train {

std::string calibration_text(const std::string& root, int max_scenes);
namespace {

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  LESEG_CHECK(fs::exists(path), "config file '", path, "' does not exist");
  Config cfg = Config::from_file(path);
  cfg.apply_overrides(overrides);
  return cfg;
}

int cmd_train(const std::string& config, const std::vector<std::string>& overrides, const std::string& resume,
              const std::string& out, const std::vector<std::string>& argv, bool quiet) {
  Config cfg = load_config(config, overrides);
  const bool profile = cfg.get<bool>("train.profile", false);  // per-op table (engine/profiler.h)
  Job job = build_job(cfg, JobKind::Train, out);
  job.trainer.verbose = !quiet;
  const bool json = log_format() == LogFormat::Json;
  job.trainer.resume = resume;
  if (!resume.empty() && out.empty()) {
    // Continue in the resumed run's folder: <run>/checkpoints/<step>/ -> <run>.
    fs::path p = fs::absolute(resume);
    if (fs::exists(p / "meta.json")) p = p.parent_path().parent_path();
    else if (p.filename() == "checkpoints") p = p.parent_path();
    job.trainer.out_dir = p.string();
  }
  const bool rank0 = dist::world().rank() == 0;  // data-parallel: rank 0 writes and prints
  if (rank0) {
    fs::create_directories(job.trainer.out_dir);
    { std::ofstream(fs::path(job.trainer.out_dir) / "config.yaml") << cfg.dump(); }
    report::write_run_info(job.trainer.out_dir, argv);  // run.json: command line, git, host (`leseg report`)
  }
  if (rank0 && dist::world().size() > 1 && !json && !quiet)
    std::printf("leseg train: %d ranks (%s), global batch %lld scenes\n", dist::world().size(),
                dist::world().backend().c_str(),
                static_cast<long long>(cfg.get<int64_t>("data.batch_size", 2) * dist::world().size() * job.trainer.accumulate));
  if (rank0 && json)
    std::printf("%s\n", nlohmann::json{{"type", "start"}, {"regime", job.regime->name()}, {"train_scenes", job.train->num_scenes()},
                                       {"val_scenes", job.val->num_scenes()}, {"batches_per_epoch", job.train->batches_per_epoch()},
                                       {"epochs", job.trainer.epochs}, {"run", job.trainer.out_dir},
                                       {"ranks", dist::world().size()},
                                       {"precision", precision_name(job.trainer.precision)}}.dump().c_str());
  else if (rank0 && !quiet)
    std::printf("leseg train: regime %s, %zu train / %zu val scenes, %lld batches per epoch, %lld epochs, run folder %s\n",
                job.regime->name().c_str(), size_t(job.train->num_scenes()), size_t(job.val->num_scenes()),
                static_cast<long long>(job.train->batches_per_epoch()), static_cast<long long>(job.trainer.epochs),
                job.trainer.out_dir.c_str());
  std::fflush(stdout);
  install_stop_handlers();
  Trainer trainer(*job.regime, *job.train, job.val.get(), job.trainer);
  if (profile) profiler::enable(true);
  TrainResult r = trainer.run();
  if (profile && rank0 && !std::getenv("LESEG_PROFILE")) {  // (LESEG_PROFILE prints at exit by itself)
    const std::string t = profiler::table();
    std::fprintf(stderr, "%s", t.c_str());
    std::ofstream(fs::path(job.trainer.out_dir) / "profile.txt") << t;
  }
  if (json) {
    if (rank0) {
      nlohmann::json j = {{"type", "done"}, {"stopped_by_signal", r.stopped_by_signal}, {"steps", r.steps}, {"seconds", r.seconds},
                          {"checkpoint", r.last_checkpoint}, {"run", job.trainer.out_dir}};
      if (r.last_miou >= 0) j["miou"] = r.last_miou;
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  }
  if (rank0) std::printf("%s after %lld steps in %s; %s%s\n", r.stopped_by_signal ? "stopped" : "done",
              static_cast<long long>(r.steps), Progress::format_duration(r.seconds).c_str(),
              r.last_miou >= 0 ? ("mIoU " + std::to_string(100.0 * r.last_miou) + ", ").c_str() : "",
              r.last_checkpoint.empty() ? "no checkpoint" : ("checkpoint " + r.last_checkpoint).c_str());
  return 0;
}

// `leseg train --nproc N ...`: N local ranks through mpirun (Open MPI), which also bootstraps them; the CPU
// collectives run on MPI, so there is no launch without it (a clear error instead).
int launch_local_workers(int nproc, const std::vector<std::string>& args) {
  LESEG_CHECK(!dist::launched_multi_rank(), "--nproc ", nproc, ": already one of several MPI ranks (drop --nproc)");
  LESEG_CHECK(dist::mpi_built(), "--nproc ", nproc, ": leseg was built without MPI; install libopenmpi-dev openmpi-bin "
              "(scripts/setup.sh) and rebuild");
  LESEG_CHECK(std::system("command -v mpirun >/dev/null 2>&1") == 0, "--nproc ", nproc, ": mpirun is not on PATH: "
              "install openmpi-bin (scripts/setup.sh); leseg's CPU collectives and its bootstrap run on MPI");
  std::vector<std::string> cmd{"mpirun", "-np", std::to_string(nproc), "--bind-to", "none", "--oversubscribe"};
  if (::geteuid() == 0) cmd.push_back("--allow-run-as-root");
  if (!std::getenv("OMP_NUM_THREADS")) {  // share the cores between the ranks
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    setenv("OMP_NUM_THREADS", std::to_string(std::max(1u, hw / unsigned(nproc))).c_str(), 1);
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);  // this binary's real path, for mpirun's workers
  LESEG_CHECK(!ec, "--nproc: cannot resolve /proc/self/exe: ", ec.message());
  cmd.push_back(self.string());
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") { ++i; continue; }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    cmd.push_back(args[i]);
  }
  std::string line;
  for (auto& c : cmd) line += (line.empty() ? "" : " ") + c;
  std::printf("leseg train --nproc %d: %s\n", nproc, line.c_str());
  std::fflush(stdout);
  std::vector<char*> argv;
  for (auto& c : cmd) argv.push_back(c.data());
  argv.push_back(nullptr);
  execvp("mpirun", argv.data());
  LESEG_FAIL("--nproc ", nproc, ": cannot run mpirun: ", std::strerror(errno));
}

// The regime's scalar evaluation metrics that the summary lines do not already show (e.g. ERDA's p_acc), as
// "key value" pairs; ratios in [0, 1] named *acc* / *miou* are printed ×100 like the summary lines.
std::string other_eval_metrics(const nlohmann::json& extra) {
  static const std::set<std::string> shown = {"miou_2d", "accuracy_2d", "valid_classes_2d"};
  std::string out;
  for (auto& [k, v] : extra.items()) {
    if (shown.count(k) || !v.is_number()) continue;
    const bool pct = v.is_number_float() && (k.find("acc") != std::string::npos || k.find("miou") != std::string::npos);
    char buf[96];
    if (v.is_number_integer()) std::snprintf(buf, sizeof buf, "%s %lld", k.c_str(), static_cast<long long>(v.get<int64_t>()));
    else std::snprintf(buf, sizeof buf, "%s %.*f", k.c_str(), pct ? 2 : 4, (pct ? 100.0 : 1.0) * v.get<double>());
    out += (out.empty() ? "" : ", ") + std::string(buf);
  }
  return out;
}

int cmd_eval(const std::string& config, const std::vector<std::string>& overrides, const std::string& checkpoint,
             const std::string& json_out) {
  Config cfg = load_config(config, overrides);
  Job job = build_job(cfg, JobKind::Eval);
  const std::string dir = load_weights(job, checkpoint);
  const auto t0 = std::chrono::steady_clock::now();
  job.regime->begin_eval();  // regimes with a second network (CNS's 2D net) accumulate their own metrics
  ConfusionMatrix cm = evaluate(*job.regime, *job.val, job.trainer.num_classes, job.trainer.ignore_index, false);
  if (dist::world().size() > 1) {  // under mpirun: each rank evaluated its shard; rank 0 prints the sum
    std::vector<int64_t> raw = cm.raw();
    dist::world().all_reduce(raw);
    cm.set_raw(raw);
    if (dist::world().rank() != 0) return 0;
  }
  const nlohmann::json extra = job.regime->eval_metrics();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s", cm.table(job.info.classes).c_str());
  // a 2D network's per-class IoU (iou_2d) as a second table, then its summary line
  if (extra.contains("iou_2d") && extra["iou_2d"].is_array() && extra["iou_2d"].size() == job.info.classes.size()) {
    std::printf("2D (pixels of the validation views):\n");
    for (size_t c = 0; c < job.info.classes.size(); ++c) {
      const nlohmann::json& v = extra["iou_2d"][c];
      if (v.is_number()) std::printf("  %-16s %6.2f\n", job.info.classes[c].c_str(), 100.0 * v.get<double>());
      else std::printf("  %-16s    n/a\n", job.info.classes[c].c_str());
    }
  }
  if (extra.contains("miou_2d") && extra["miou_2d"].is_number())
    std::printf("checkpoint %s: 2D mIoU %.2f over %d classes, accuracy %.2f\n", dir.c_str(),
                100.0 * extra["miou_2d"].get<double>(), extra.value("valid_classes_2d", 0),
                100.0 * extra.value("accuracy_2d", 0.0));
  if (cm.num_valid_classes() == 0)
    std::fprintf(stderr, "warning: no validation point carries a label in [0, %zu): the mIoU below scores no class\n",
                 job.info.classes.size());
  if (const std::string more = other_eval_metrics(extra); !more.empty())
    std::printf("checkpoint %s: regime metrics: %s\n", dir.c_str(), more.c_str());
  std::printf("checkpoint %s: mIoU %.2f over %d classes, accuracy %.2f, %zu scenes, %lld points, %s\n", dir.c_str(),
              100.0 * cm.miou(), cm.num_valid_classes(), 100.0 * cm.accuracy(), size_t(job.val->num_scenes()),
              static_cast<long long>(cm.total()), Progress::format_duration(s).c_str());
  if (!json_out.empty()) {  // the Trainer's eval record (metrics.jsonl "type":"eval"), plus where it came from
    nlohmann::json rec = cm.to_json(job.info.classes);
    for (auto& [k, v] : extra.items()) rec[k] = v;
    rec["type"] = "eval";
    rec["checkpoint"] = dir;
    rec["scenes"] = job.val->num_scenes();
    const fs::path target(json_out), tmp = fs::path(json_out + ".tmp");
    {
      std::ofstream f(tmp);
      LESEG_CHECK(f.good(), "leseg eval --json: cannot write ", tmp.string());
      f << rec.dump(2) << "\n";
      f.close();
      LESEG_CHECK(f.good(), "leseg eval --json: writing ", tmp.string(), " failed");
    }
    std::error_code ec;
    fs::rename(tmp, target, ec);  // atomic: a reader sees the old file or the whole new one
    LESEG_CHECK(!ec, "leseg eval --json: cannot rename ", tmp.string(), " to ", target.string(), ": ", ec.message());
  }
  return 0;
}

int cmd_infer(const std::string& config, const std::vector<std::string>& overrides, const std::string& checkpoint,
              const std::string& scene, const std::string& out) {
  LESEG_CHECK(dist::world().size() == 1, "leseg infer runs in one process (not under mpirun)");
  Config cfg = load_config(config, overrides);
  Job job = build_job(cfg, JobKind::Infer);
  load_weights(job, checkpoint);
  InferResult r = infer_scene(job, scene, out);
  std::printf("%lld points -> %s, %s\n", static_cast<long long>(r.points), r.labels_path.c_str(), r.ply_path.c_str());
  for (size_t c = 0; c < r.class_histogram.size(); ++c)
    if (r.class_histogram[c] > 0)
      std::printf("  %-16s %lld\n", job.info.classes[c].c_str(), static_cast<long long>(r.class_histogram[c]));
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& args_in) {
  CLI::App app{"leseg: label-efficient 3D point-cloud segmentation (train, evaluate, infer, data tools)", "leseg"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  std::string isa_line;
  try {
    isa_line = kernels::cpu_isa_summary();
  } catch (const std::exception& e) {  // a bad LESEG_ISA: say so, before anything runs
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  app.set_version_flag("--version",
                       std::string("leseg (CUDA backend ") + (LESEG_WITH_CUDA ? "compiled" : "not compiled") + ")\n" +
                           isa_line,
                       "Build and the chosen CPU kernel path (LESEG_ISA=baseline|x86-64-v3|auto), then exit");

  std::string config, resume, out, checkpoint, scene;
  std::vector<std::string> overrides;
  auto* train = app.add_subcommand("train", "Train a model from a YAML config (key=value overrides after it)");
  train->add_option("config", config, "YAML config file")->required();
  train->add_option("overrides", overrides, "key=value overrides (dotted keys, YAML values)");
  train->add_option("--resume", resume, "Checkpoint directory or run folder to continue from");
  train->add_option("--out", out, "Run folder (default: train.out, or the resumed run's folder)");
  bool quiet = false;
  std::string log_fmt = "text";
  train->add_flag("--quiet", quiet, "No progress line or evaluation tables; only the final line (errors still on stderr)");
  train->add_option("--log-format", log_fmt, "Console format: text, or json (one JSON object per line, for scripts)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  int nproc = 1;
  train->add_option("--nproc", nproc, "Data-parallel processes on this machine (re-launches itself through mpirun)")
      ->check(CLI::Range(1, 1024));

  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint on the validation split (per-class IoU, mIoU)");
  eval->add_option("config", config, "YAML config file")->required();
  eval->add_option("overrides", overrides, "key=value overrides");
  eval->add_option("--checkpoint", checkpoint, "Checkpoint directory or run folder")->required();
  std::string eval_json;
  eval->add_option("--json", eval_json, "Also write the evaluation record (the metrics.jsonl eval line, with the "
                   "regime's metrics, e.g. ERDA's p_acc) to this JSON file");

  auto* infer = app.add_subcommand("infer", "Predict per-point labels for one scene (.npy + coloured PLY)");
  infer->add_option("config", config, "YAML config file")->required();
  infer->add_option("overrides", overrides, "key=value overrides");
  infer->add_option("--checkpoint", checkpoint, "Checkpoint directory or run folder")->required();
  infer->add_option("--scene", scene, "Scene directory (leseg layout) or .ply file")->required();
  infer->add_option("--out", out, "Output directory")->required();

  auto* model = app.add_subcommand("model", "Model registry");
  model->require_subcommand(1);
  std::string model_name;
  int64_t model_in = 3;
  auto* model_info_cmd = model->add_subcommand("info", "Parameter count and stages of a registered model");
  model_info_cmd->add_option("name", model_name, "Model name (see `leseg model list`)")->required();
  model_info_cmd->add_option("--in-channels", model_in, "Input feature channels");
  auto* model_list = model->add_subcommand("list", "Registered model names");

  auto* data = app.add_subcommand("data", "Datasets: synthetic generation, conversion, inspection");
  data->require_subcommand(1);
  io::synth::SyntheticDatasetOptions so;
  std::string synth_out;
  double density = so.indoor.point_density;
  int views = so.indoor.num_views;
  auto* synth = data->add_subcommand("synth", "Generate a synthetic dataset in leseg's layout");
  synth->add_option("--out", synth_out, "Dataset root to write")->required();
  synth->add_option("--train", so.train_scenes, "Training scenes")->capture_default_str();
  synth->add_option("--val", so.val_scenes, "Validation scenes")->capture_default_str();
  synth->add_option("--seed", so.seed, "Seed")->capture_default_str();
  synth->add_flag("--outdoor", so.outdoor, "Outdoor LiDAR streets instead of indoor rooms");
  synth->add_option("--density", density, "Indoor points per m^2 of surface")->capture_default_str();
  synth->add_option("--views", views, "Indoor RGB-D views per scene")->capture_default_str();
  synth->add_option("--text-dim", so.text_dim, "Text embedding dimension")->capture_default_str();
  so.threads = io::synth::resolve_threads(0);
  synth->add_option("--threads", so.threads, "Scenes generated in parallel (default: hardware concurrency)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  std::string conv_from, conv_src, conv_to;
  io::ConvertOptions co;
  auto* convert = data->add_subcommand("convert", "Convert a dataset (pointcept, scannet, scannet-sens, s3dis, semantickitti, nuscenes, kitti, mosd, ply, pcd)");
  convert->add_option("--from", conv_from, "Source format")->required();
  convert->add_option("src", conv_src, "Source path")->required();
  convert->add_option("--to", conv_to, "Destination root")->required();
  convert->add_option("--max-scenes", co.max_scenes, "At most this many scenes (-1 = all)");
  convert->add_option("--frame-stride", co.frame_stride, "ScanNet: every k-th frame (exported frames or .sens)");
  convert->add_option("--max-frames", co.max_frames, "ScanNet: at most this many frames per scene");
  convert->add_option("--sweeps", co.sweeps, "nuScenes: previous sweeps aggregated onto the keyframe (sweeps.txt)");
  std::string conv_classes, conv_val;
  convert->add_option("--classes", conv_classes, "Class names, one per line (replaces the format's list; ply/pcd: "
                                                 "needed when some classes are absent from the files)");
  convert->add_option("--num-classes", co.num_classes, "Number of classes (ply/pcd: names class_0 .. class_{N-1})");
  convert->add_option("--val", conv_val, "Validation scenes: comma-separated names, or a file with one per line "
                                         "(every other scene goes to train.txt)");
  convert->add_option("--val-fraction", co.val_fraction, "Share of the scenes put in val.txt (evenly spaced by name)");
  std::string inspect_root;
  auto* inspect = data->add_subcommand("inspect", "Summarise a dataset root (scenes, points, label histogram, missing files)");
  inspect->add_option("root", inspect_root, "Dataset root")->required();
  std::string check_root;
  io::CheckOptions check_opt;
  bool check_no_views = false;
  auto* check = data->add_subcommand(
      "check", "Check every scene of a dataset root (shapes, dtypes, finite and in-range coordinates, labels, "
               "empty scenes, views); report only, nothing is written; exit 1 on any error");
  check->add_option("root", check_root, "Dataset root")->required();
  check->add_option("--split", check_opt.splits, "Split to check (repeatable; default: every <split>.txt)");
  check->add_option("--voxel-size", check_opt.voxel_size, "Smallest voxel size the data will be used at (range check)")
      ->capture_default_str();
  check->add_flag("--no-views", check_no_views, "Skip the views/ folders");
  int calib_scenes = 8;
  inspect->add_option("--calibration-scenes", calib_scenes,
                      "Scenes (val split first) used for the stand-ins' noise figures (METHODS §6); 0 skips")
      ->capture_default_str();

  std::vector<std::string> report_runs;
  report::ReportOptions ro;
  bool report_no_predict = false;
  auto* report_cmd = app.add_subcommand("report", "Self-contained HTML report (+ PNG figures) of one run or several overlaid");
  report_cmd->add_option("runs", report_runs, "Run folders (metrics.jsonl, config.yaml, checkpoints/)")->required();
  report_cmd->add_option("--out", ro.out_dir, "Output folder (default: <first run>/report)");
  report_cmd->add_option("--scenes", ro.scenes, "Validation scenes rendered per run")->capture_default_str();
  report_cmd->add_option("--max-eval-scenes", ro.max_eval_scenes, "Validation scenes predicted for the confusion matrix (-1 = all)")
      ->capture_default_str();
  report_cmd->add_flag("--no-predict", report_no_predict, "Curves and IoU bars only (no checkpoint or data needed)");
  report_cmd->add_option("--set", ro.overrides, "key=value applied to each run's config.yaml (e.g. data.root=PATH)");

  std::string view_input;
  report::ViewerOptions vopt;
  auto* view_cmd = app.add_subcommand("view", "Interactive 3D viewer page (three.js, offline) of a scene or of `leseg infer` output");
  view_cmd->add_option("input", view_input, "Scene directory, `leseg infer` output folder, or .ply")->required();
  view_cmd->add_option("--out", vopt.out_dir, "Output folder (default: <input>_view)");
  view_cmd->add_option("--predictions", vopt.predictions, "(N,) .npy of predicted labels for a scene directory");
  view_cmd->add_option("--dataset", vopt.dataset, "Dataset root for class names (default: found from the scene path)");
  view_cmd->add_option("--max-points", vopt.max_points, "Subsample larger clouds to this many points")->capture_default_str();
  view_cmd->add_option("--three", vopt.three_dir, "three.js folder (Debian libjs-three)")->capture_default_str();

  std::vector<std::string> args(args_in.rbegin(), args_in.rend());  // CLI11 parses a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*train && nproc > 1) return launch_local_workers(nproc, args_in);
    if (*train) {
      std::vector<std::string> argv = {"leseg"};
      argv.insert(argv.end(), args_in.begin(), args_in.end());
      set_log_format(parse_log_format(log_fmt));
      return cmd_train(config, overrides, resume, out, argv, quiet);
    }
    if (*view_cmd) {
      report::ViewerResult r = report::write_viewer(view_input, vopt);
      std::printf("wrote %s: %lld of %lld points, %d classes%s%s%s (open it in a browser; three.js copied next to it)\n",
                  r.html_path.c_str(), static_cast<long long>(r.shown), static_cast<long long>(r.points), r.classes,
                  r.has_gt ? ", ground truth" : "", r.has_pred ? ", prediction" : "", r.has_pseudo ? ", pseudo-labels" : "");
      return 0;
    }
    if (*report_cmd) {
      ro.predict = !report_no_predict;
      report::ReportResult r = report::write_report(report_runs, ro);
      for (const auto& n : r.notes) std::printf("note: %s\n", n.c_str());
      std::printf("wrote %s (%zu figures, also as PNG files in %s)\n", r.html_path.c_str(), r.png_paths.size(),
                  std::filesystem::path(r.html_path).parent_path().c_str());
      return 0;
    }
    if (*eval) return cmd_eval(config, overrides, checkpoint, eval_json);
    if (*infer) return cmd_infer(config, overrides, checkpoint, scene, out);
    if (*model_info_cmd) {
      models::ModelOptions mo;
      mo.in_channels = model_in;
      std::printf("%s", models::model_summary(models::model_info(model_name, mo)).c_str());
      return 0;
    }
    if (*model_list) {
      for (auto& n : models::model_names()) std::printf("%s\n", n.c_str());
      return 0;
    }
    if (*synth) {
      so.indoor.point_density = density;
      so.indoor.num_views = views;
      const auto t0 = std::chrono::steady_clock::now();
      io::DatasetInfo info = io::synth::write_synthetic_dataset(synth_out, so);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("wrote %s: %d train + %d val %s scenes, %zu classes, %s on %d threads\n", synth_out.c_str(),
                  so.train_scenes, so.val_scenes, so.outdoor ? "outdoor" : "indoor", info.classes.size(),
                  Progress::format_duration(s).c_str(), so.threads);
      return 0;
    }
    if (*convert) {
      if (!conv_classes.empty()) co.class_names = io::read_class_names(conv_classes);
      if (!conv_val.empty()) co.val_scenes = io::parse_scene_list(conv_val);
      io::ConvertResult r = io::convert(conv_from, conv_src, conv_to, co);
      std::printf("%s\n", r.str().c_str());
      return 0;
    }
    if (*check) {
      check_opt.views = !check_no_views;
      io::CheckReport r = io::check_dataset(check_root, check_opt);
      std::printf("%s", r.str(200).c_str());
      return r.ok() ? 0 : 1;
    }
    if (*inspect) {
      io::InspectReport r = io::inspect(inspect_root);
      std::printf("%s", r.text.c_str());
      if (calib_scenes > 0) std::printf("%s", calibration_text(inspect_root, calib_scenes).c_str());
      return r.missing.empty() ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (dist::world_size_if_started() > 1) dist::abort_job(1);  // no rank is left waiting in a collective
    return 1;
  }
  return 2;
}

// The four noise figures of the CLIP/SAM stand-ins (METHODS §6: raw CLIP labels in 2D and projected to
// points, and the same after SAM-mask voting), on up to `max_scenes` scenes whose views carry CLIP labels,
// SAM masks and GT label images.
std::string calibration_text(const std::string& root, int max_scenes) {
  io::DatasetInfo info = io::read_dataset_info(root);
  std::vector<std::string> names;
  for (const char* split : {"val", "train"}) {
    try {
      for (auto& n : io::read_split(root, split)) names.push_back(n);
    } catch (const std::exception&) {
    }
  }
  std::vector<io::Scene> scenes;
  for (const auto& n : names) {
    if (int(scenes.size()) >= max_scenes) break;
    io::Scene sc = io::read_scene((std::filesystem::path(root) / "scenes" / n).string());
    bool usable = sc.labels.defined() && !sc.views.empty();
    for (const auto& v : sc.views) usable = usable && v.clip_labels.defined() && v.sam_masks.defined() && v.gt_labels.defined();
    if (usable) scenes.push_back(std::move(sc));
  }
  if (scenes.empty())
    return "stand-in calibration: no scene with views carrying CLIP labels, SAM masks and GT label images\n";
  io::synth::CalibrationReport rep = io::synth::calibrate(scenes, int(info.classes.size()), {}, info.text_embeddings);
  return "stand-in calibration on " + std::to_string(scenes.size()) +
         " scenes (METHODS §6 targets from CNS Tables 1-2: CLIP 2D ~17, 3D ~14; SAM-voted 2D ~24, 3D ~19):\n" +
         rep.str() + "\n";
}

int run_cli(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return run_cli(args);
}

}  // namespace leseg::train
