// SPDX-License-Identifier: Apache-2.0
// The `leseg` command line through run_cli: config errors name the bad key, missing files are named,
// --help works on every subcommand, train -> eval -> infer run end to end on a tiny dataset, and `eval` of a
// co-trained 2D + 3D regime (CNS) prints the 2D network's per-class IoU and mIoU next to the 3D ones; --json writes
// the eval record (atomically; an unwritable path is named) and a regime's own metrics (ERDA's p_acc) are printed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/formats/npy.h"
#include "io/formats/ply.h"
#include "train/cli.h"
#include "train_fixture.h"

namespace fs = std::filesystem;
using leseg::train::run_cli;
using leseg::train::testing::cli;
using leseg::train::testing::CliRun;
using leseg::train::testing::scratch;
using leseg::train::testing::tiny_dataset;

namespace {


std::string tiny_config_file(const std::string& dir) {
  fs::create_directories(dir);
  std::string p = (fs::path(dir) / "tiny.yaml").string();
  std::ofstream(p) << "seed: 1\nregime: supervised\n"
                   << "data: {root: " << tiny_dataset() << ", batch_size: 2, voxel_size: 0.2}\n"
                   << "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n"
                   << "optim: {name: sgd, lr: 0.05, momentum: 0.9, sched: {name: cosine, warmup: 1}}\n"
                   << "train: {epochs: 1, out: " << dir << "/run, eval_every: 0}\n";
  return p;
}

}  // namespace

TEST(Cli, BadConfigKeyIsNamed) {
  const std::string dir = scratch("cli_badkey");
  CliRun r = cli({"train", tiny_config_file(dir), "optim.lrr=0.2"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("'optim.lrr'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'optim.lr'"), std::string::npos) << r.err;
  CliRun r2 = cli({"train", tiny_config_file(dir), "optim.sched.name=cosinus"});
  EXPECT_EQ(r2.rc, 1);
  EXPECT_NE(r2.err.find("optim.sched.name"), std::string::npos) << r2.err;
  CliRun r3 = cli({"train", tiny_config_file(dir), "regime=supervisd"});
  EXPECT_EQ(r3.rc, 1);
  EXPECT_NE(r3.err.find("unknown regime 'supervisd'"), std::string::npos) << r3.err;
  CliRun r4 = cli({"train", tiny_config_file(dir), "model.name=MinkUNet99"});
  EXPECT_EQ(r4.rc, 1);
  EXPECT_NE(r4.err.find("model.name"), std::string::npos) << r4.err;
}

TEST(Cli, MissingFilesAreNamed) {
  const std::string dir = scratch("cli_missing");
  CliRun r = cli({"train", "/nonexistent/cfg.yaml"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("/nonexistent/cfg.yaml"), std::string::npos) << r.err;
  CliRun r2 = cli({"train", tiny_config_file(dir), "data.root=/nonexistent/data"});
  EXPECT_EQ(r2.rc, 1);
  EXPECT_NE(r2.err.find("data.root"), std::string::npos) << r2.err;
  EXPECT_NE(r2.err.find("/nonexistent/data"), std::string::npos) << r2.err;
  CliRun r3 = cli({"eval", tiny_config_file(dir), "--checkpoint", "/nonexistent/ckpt"});
  EXPECT_EQ(r3.rc, 1);
  EXPECT_NE(r3.err.find("/nonexistent/ckpt"), std::string::npos) << r3.err;
  CliRun r4 = cli({"train", tiny_config_file(dir), "--resume", "/nonexistent/run"});
  EXPECT_EQ(r4.rc, 1);
  EXPECT_NE(r4.err.find("/nonexistent/run"), std::string::npos) << r4.err;
  CliRun r5 = cli({"data", "inspect", "/nonexistent/root"});
  EXPECT_NE(r5.rc, 0);
}

TEST(Cli, HelpEverywhereAndUsageErrors) {
  for (std::vector<std::string> a : {std::vector<std::string>{"--help"}, {"train", "--help"}, {"eval", "--help"},
                                     {"infer", "--help"}, {"model", "info", "--help"}, {"data", "synth", "--help"},
                                     {"data", "convert", "--help"}, {"data", "inspect", "--help"}}) {
    CliRun r = cli(a);
    EXPECT_EQ(r.rc, 0) << a.back();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(cli({}).rc, 0);
  EXPECT_NE(cli({"infer", "x.yaml"}).rc, 0);  // --checkpoint, --scene, --out required
  CliRun m = cli({"model", "info", "MinkUNet14A"});
  EXPECT_EQ(m.rc, 0);
  EXPECT_NE(m.out.find("parameters"), std::string::npos) << m.out;
}

TEST(Cli, TrainEvalInferEndToEnd) {
  const std::string dir = scratch("cli_e2e");
  const std::string cfg = tiny_config_file(dir);
  CliRun t = cli({"train", cfg, "train.log_every=1"});
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("mIoU"), std::string::npos) << t.out;
  EXPECT_TRUE(fs::exists(fs::path(dir) / "run" / "config.yaml"));
  CliRun e = cli({"eval", cfg, "--checkpoint", dir + "/run", "--json", dir + "/eval.json"});
  ASSERT_EQ(e.rc, 0) << e.err;
  EXPECT_NE(e.out.find("mIoU"), std::string::npos) << e.out;
  // --json: the same record the Trainer logs, and the printed mIoU is its miou
  {
    std::ifstream f(dir + "/eval.json");
    ASSERT_TRUE(f.good());
    const nlohmann::json rec = nlohmann::json::parse(f);
    EXPECT_EQ(rec.value("type", ""), "eval");
    ASSERT_TRUE(rec.contains("miou") && rec.contains("iou") && rec.contains("accuracy") && rec.contains("checkpoint"));
    const size_t at = e.out.find(": mIoU ");
    ASSERT_NE(at, std::string::npos) << e.out;
    EXPECT_NEAR(100.0 * rec["miou"].get<double>(), std::stod(e.out.substr(at + 7)), 0.006);
    EXPECT_FALSE(fs::exists(dir + "/eval.json.tmp"));
  }
  CliRun ej = cli({"eval", cfg, "--checkpoint", dir + "/run", "--json", "/nonexistent/dir/eval.json"});
  EXPECT_EQ(ej.rc, 1);
  EXPECT_NE(ej.err.find("/nonexistent/dir/eval.json"), std::string::npos) << ej.err;
  const std::string scene = tiny_dataset() + "/scenes/" + [] {
    std::ifstream in(tiny_dataset() + "/val.txt");
    std::string s;
    std::getline(in, s);
    return s;
  }();
  CliRun i = cli({"infer", cfg, "--checkpoint", dir + "/run", "--scene", scene, "--out", dir + "/pred"});
  ASSERT_EQ(i.rc, 0) << i.err;
  const std::string name = fs::path(scene).filename().string();
  leseg::Tensor labels = leseg::io::read_npy(dir + "/pred/" + name + "_labels.npy");
  leseg::io::PlyData ply = leseg::io::read_ply(dir + "/pred/" + name + "_pred.ply");
  EXPECT_EQ(labels.numel(), ply.num_vertices);
  ASSERT_GT(labels.numel(), 100);
  EXPECT_TRUE(ply.has("red") && ply.has("label") && ply.has("gt"));
  for (int32_t v : labels.to_vector<int32_t>()) ASSERT_TRUE(v >= 0 && v < 20) << v;
}

TEST(Cli, EvalPrintsTheSecondNetworksMiou) {
  const std::string dir = scratch("cli_cns");
  const std::string data = leseg::train::testing::tiny_views_dataset("cli_cns", 11);
  fs::create_directories(dir);
  const std::string cfg = (fs::path(dir) / "cns.yaml").string();
  std::ofstream(cfg) << "seed: 5\nregime: cns\n"
                     << "data: {root: " << data << ", batch_size: 2, val_batch_size: 1, voxel_size: 0.2, workers: 0,"
                     << " views: true, crop_height: 48, crop_width: 64, crop_min_pairs: 16, eval_view_crop: false}\n"
                     << "model: {name: MinkUNet34C, planes: [8, 8, 8, 8, 8, 8, 8, 8], layers: [1, 1, 1, 1, 1, 1, 1, 1],"
                     << " init_dim: 8}\n"
                     << "model2d: {depth: 18, output_stride: 8, aspp_channels: 16}\n"
                     << "cns: {warmup_epochs: 1, sam_dim: 32}\n"
                     << "optim: {name: sgd, lr: 0.05, momentum: 0.9}\n"
                     << "optim2d: {name: sgd, lr: 0.05, momentum: 0.9}\n"
                     << "train: {epochs: 1, out: " << dir << "/run, eval_every: 0}\n";
  CliRun t = cli({"train", cfg});
  ASSERT_EQ(t.rc, 0) << t.err;
  CliRun e = cli({"eval", cfg, "--checkpoint", dir + "/run"});
  ASSERT_EQ(e.rc, 0) << e.err;
  EXPECT_NE(e.out.find("2D (pixels of the validation views)"), std::string::npos) << e.out;
  const size_t at = e.out.find(": 2D mIoU ");
  ASSERT_NE(at, std::string::npos) << e.out;
  const double miou2d = std::stod(e.out.substr(at + 10));
  EXPECT_GE(miou2d, 0.0);
  EXPECT_LE(miou2d, 100.0);
  EXPECT_NE(e.out.find(": mIoU "), std::string::npos) << e.out;
}

// A regime's own evaluation metrics reach `leseg eval`: ERDA's p_acc (argmax of the prototype pseudo-labels on the
// held-out rooms) is printed and written to --json.
TEST(Cli, EvalPrintsTheRegimesMetrics) {
  const std::string dir = scratch("cli_erda");
  const std::string cfg = tiny_config_file(dir);
  CliRun t = cli({"train", cfg, "regime=erda", "data.weak_labels=10%"});
  ASSERT_EQ(t.rc, 0) << t.err;
  CliRun e = cli({"eval", cfg, "regime=erda", "data.weak_labels=10%", "--checkpoint", dir + "/run", "--json",
                  dir + "/eval.json"});
  ASSERT_EQ(e.rc, 0) << e.err;
  const size_t at = e.out.find("regime metrics: p_acc ");
  ASSERT_NE(at, std::string::npos) << e.out;
  std::ifstream f(dir + "/eval.json");
  const nlohmann::json rec = nlohmann::json::parse(f);
  ASSERT_TRUE(rec.contains("p_acc") && rec.contains("p_acc_n")) << rec.dump();
  EXPECT_GT(rec["p_acc_n"].get<int64_t>(), 0);
  EXPECT_NEAR(100.0 * rec["p_acc"].get<double>(), std::stod(e.out.substr(at + 22)), 0.006);
}
