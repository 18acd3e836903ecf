// SPDX-License-Identifier: Apache-2.0
// `leseg report`: the figure primitives (base64, ticks, a line chart draws its series, the point rasteriser's
// z-buffer keeps the nearest point), metrics.jsonl errors naming file and line, a two-run report overlaying
// both runs' curves (no checkpoint needed), and end to end: `leseg train` on tiny RGB-D rooms writes run.json,
// `leseg report` predicts the validation room and writes the confusion matrix, the scene renders and the
// views panel, all embedded in one HTML file.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "io/formats/image.h"
#include "tests/train/train_fixture.h"
#include "train/cli.h"
#include "train/job.h"
#include "train/trainer.h"
#include "train/report/canvas.h"
#include "train/report/plot.h"
#include "train/report/render.h"
#include "train/report/report.h"

namespace fs = std::filesystem;
using namespace leseg;
using namespace leseg::train::report;

namespace {

int64_t count_color(const Tensor& img, Rgb c, int tol = 12) {
  const uint8_t* p = img.data<uint8_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < img.size(0) * img.size(1); ++i)
    n += std::abs(p[i * 3] - c.r) <= tol && std::abs(p[i * 3 + 1] - c.g) <= tol && std::abs(p[i * 3 + 2] - c.b) <= tol;
  return n;
}

std::string slurp(const std::string& p) { return read_file_bytes(p); }

void write_run(const std::string& dir, double lr, double final_miou) {
  fs::create_directories(dir);
  std::ofstream f(fs::path(dir) / "metrics.jsonl");
  for (int s = 1; s <= 20; ++s)
    f << nlohmann::json{{"type", "train"}, {"step", s}, {"epoch", 1 + s / 10}, {"loss", 3.0 / s},
                        {"terms", {{"ce", 2.0 / s}, {"aux", 1.0 / s}}}, {"lr", {{"net", lr}}},
                        {"points", 1000}, {"elapsed_s", 0.5 * s}, {"reliable_fraction", 0.05 * s}}
             .dump()
      << "\n";
  for (int e = 1; e <= 2; ++e)
    f << nlohmann::json{{"type", "eval"}, {"epoch", e}, {"step", 10 * e}, {"miou", final_miou * e / 2},
                        {"accuracy", 0.5 + 0.1 * e}, {"iou", {{"wall", 0.5}, {"floor", 0.9}, {"chair", nullptr}}}}
             .dump()
      << "\n";
  f << nlohmann::json{{"type", "end"}, {"step", 20}, {"epoch", 2}, {"seconds", 10.0}, {"stopped_by_signal", false}}.dump()
    << "\n";
}

// A built regime wrapped to report step_stats(): "calls" counts step() calls, "share" is a constant fraction.
class StatsProbe : public train::Regime {
 public:
  explicit StatsProbe(std::unique_ptr<train::Regime> in) : in_(std::move(in)) { optimizers_ = std::move(in_->optimizers()); }
  std::string name() const override { return in_->name(); }
  void build(const train::Config&, const train::BuildContext&) override {}
  train::LossTerms step(const train::Batch& b, int64_t e, int64_t it) override {
    stats_ = {{"calls", double(++calls_)}, {"share", 0.25}};
    return in_->step(b, e, it);
  }
  Tensor logits(const train::Batch& b) override { return in_->logits(b); }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> modules() override { return in_->modules(); }
  nlohmann::json step_stats() const override { return stats_; }

 private:
  std::unique_ptr<train::Regime> in_;
  int calls_ = 0;
  nlohmann::json stats_;
};

}  // namespace

// The Trainer logs a regime's step_stats() under "stats", averaged over an optimizer step's batches, and the
// report plots them (the mechanism figures of label-efficient regimes).
TEST(Report, RegimeStatsLoggedAndPlotted) {
  const std::string dir = train::testing::scratch("report_stats");
  train::Config c = train::testing::tiny_config(dir + "/run");
  c.apply_overrides({"train.accumulate=2", "train.epochs=1"});  // 4 scenes, batch 1: 2 steps of 2 batches
  train::Job job = train::build_job(c, train::JobKind::Train);
  job.trainer.verbose = false;
  StatsProbe probe(std::move(job.regime));
  train::Trainer t(probe, *job.train, job.val.get(), job.trainer);
  ASSERT_EQ(t.run().steps, 2);
  std::vector<double> calls;
  std::ifstream in(dir + "/run/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["type"] != "train") continue;
    ASSERT_TRUE(j.contains("stats")) << line;
    calls.push_back(j["stats"]["calls"].get<double>());
    EXPECT_DOUBLE_EQ(j["stats"]["share"].get<double>(), 0.25);
  }
  EXPECT_EQ(calls, (std::vector<double>{1.5, 3.5}));  // mean of the step's two batches
  ReportOptions o;
  o.predict = false;
  ReportResult r = write_report({dir + "/run"}, o);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "run" / "report" / "train_stats_calls.png"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "run" / "report" / "train_stats_share.png"));
  EXPECT_NE(read_file_bytes(r.html_path).find("Regime statistics"), std::string::npos);
}

TEST(Report, Base64AndTicks) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  std::vector<double> t = nice_ticks(0.0, 1.0, 5);
  ASSERT_FALSE(t.empty());
  EXPECT_DOUBLE_EQ(t.front(), 0.0);
  EXPECT_DOUBLE_EQ(t.back(), 1.0);
  EXPECT_NEAR(t[1] - t[0], 0.2, 1e-12);
}

TEST(Report, LineChartDrawsEverySeries) {
  LineChart c;
  c.title = "t";
  c.series = {{"a", {0, 1, 2, 3}, {1, 2, 3, 4}}, {"b", {0, 1, 2, 3}, {4, 3, 2, 1}}};
  Tensor img = draw_line_chart(c).to_image();
  EXPECT_GT(count_color(img, series_color(0)), 100);
  EXPECT_GT(count_color(img, series_color(1)), 100);
  LineChart empty;
  Tensor e = draw_line_chart(empty).to_image();  // "no data", not an error
  EXPECT_EQ(count_color(e, series_color(0)), 0);
}

TEST(Report, RasteriserKeepsTheNearestPoint) {
  // two points above each other: top-down, the higher one (nearer the camera) must win
  const float xyz[] = {0.f, 0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 0.f};
  const std::vector<Rgb> col = {Rgb{255, 0, 0}, Rgb{0, 0, 255}, Rgb{0, 255, 0}};
  Tensor img = render_points(xyz, 3, col, {}, Viewpoint::Top, 64, 64);
  EXPECT_GT(count_color(img, Rgb{0, 0, 255}, 100), 0);
  EXPECT_EQ(count_color(img, Rgb{255, 0, 0}, 100), 0);
  EXPECT_GT(count_color(img, Rgb{0, 255, 0}, 100), 0);
  // hidden points are not drawn
  Tensor h = render_points(xyz, 3, col, {1, 0, 1}, Viewpoint::Oblique, 64, 64);
  EXPECT_EQ(count_color(h, Rgb{0, 0, 255}, 100), 0);
  EXPECT_GT(count_color(h, Rgb{255, 0, 0}, 100), 0);
}

TEST(Report, BadMetricsLineIsNamed) {
  const std::string dir = train::testing::scratch("report_bad");
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "metrics.jsonl") << "{\"type\":\"train\",\"step\":1}\n{not json\n";
  try {
    read_run_log(dir);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl line 2"), std::string::npos) << e.what();
  }
  try {
    read_run_log(dir + "/nope");
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(Report, RunInfoKeepsTheFirstCommandAndAppendsResumes) {
  const std::string dir = train::testing::scratch("report_runinfo");
  fs::create_directories(dir);
  write_run_info(dir, {"leseg", "train", "a.yaml"});
  write_run_info(dir, {"leseg", "train", "a.yaml", "--resume", dir});
  const nlohmann::json j = nlohmann::json::parse(slurp(dir + "/run.json"));
  EXPECT_EQ(j["command"], "leseg train a.yaml");
  ASSERT_TRUE(j.contains("resumes"));
  ASSERT_EQ(j["resumes"].size(), 1u);
  EXPECT_NE(j["resumes"][0]["command"].get<std::string>().find("--resume"), std::string::npos);
}

TEST(Report, TwoRunsOverlaid) {
  const std::string root = train::testing::scratch("report_two");
  write_run(root + "/A", 0.1, 0.6);
  write_run(root + "/B", 0.05, 0.3);
  ReportOptions o;
  o.out_dir = root + "/out";
  o.predict = false;
  ReportResult r = write_report({root + "/A", root + "/B"}, o);
  const std::string html = slurp(r.html_path);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(html.find("src=\"" + root), std::string::npos) << "images must be embedded, not linked";
  EXPECT_NE(html.find("<td>A</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>B</td>"), std::string::npos);
  for (const char* f : {"loss.png", "lr.png", "eval_miou.png", "eval_accuracy.png", "iou_bars.png", "throughput_steps.png",
                        "train_reliable_fraction.png", "loss_ce.png", "loss_aux.png"})
    EXPECT_TRUE(fs::exists(fs::path(o.out_dir) / f)) << f;
  // both runs drawn on the same mIoU figure
  Tensor miou = io::read_image_rgb((fs::path(o.out_dir) / "eval_miou.png").string());
  EXPECT_GT(count_color(miou, series_color(0)), 50);
  EXPECT_GT(count_color(miou, series_color(1)), 50);
  bool noted = false;
  for (auto& n : r.notes) noted |= n.find("--no-predict") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(Report, TrainThenReportEndToEnd) {
  const std::string data = train::testing::tiny_views_dataset("report_e2e", 5);
  const std::string dir = train::testing::scratch("report_e2e_run");
  fs::create_directories(dir);
  const std::string cfg = (fs::path(dir) / "tiny.yaml").string();
  std::ofstream(cfg) << "seed: 1\nregime: supervised\n"
                     << "data: {root: " << data << ", batch_size: 2, voxel_size: 0.2}\n"
                     << "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n"
                     << "optim: {name: sgd, lr: 0.05, sched: {name: cosine, warmup: 0}}\n"
                     << "train: {epochs: 1, log_every: 1, eval_every: 1}\n";
  ::testing::internal::CaptureStdout();
  int rc = train::run_cli({"train", cfg, "--out", dir + "/run", "--quiet"});
  std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "--quiet prints only the final line:\n" << out;
  EXPECT_EQ(out.rfind("done after ", 0), 0u) << out;
  const nlohmann::json info = nlohmann::json::parse(slurp(dir + "/run/run.json"));
  EXPECT_NE(info.value("command", "").find("leseg train"), std::string::npos) << info.dump();
  EXPECT_TRUE(info.contains("git") && info.contains("host") && info.contains("started"));
  ::testing::internal::CaptureStdout();
  rc = train::run_cli({"report", dir + "/run", "--scenes", "1"});
  out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << out;
  const fs::path rep = fs::path(dir) / "run" / "report";
  EXPECT_TRUE(fs::exists(rep / "report.html")) << out;
  EXPECT_TRUE(fs::exists(rep / "run_confusion.png")) << out;
  int scenes = 0, views = 0;
  for (auto& e : fs::directory_iterator(rep)) {
    scenes += e.path().filename().string().rfind("run_scene_", 0) == 0;
    views += e.path().filename().string().rfind("run_views_", 0) == 0;
  }
  EXPECT_EQ(scenes, 1);
  EXPECT_EQ(views, 1);
  const std::string html = slurp((rep / "report.html").string());
  EXPECT_NE(html.find("config.yaml"), std::string::npos);
  EXPECT_NE(html.find("leseg train"), std::string::npos);  // the command line
  // the error map marks wrong points red on some pixels of an untrained network's render
  Tensor render;
  for (auto& e : fs::directory_iterator(rep))
    if (e.path().filename().string().rfind("run_scene_", 0) == 0) render = io::read_image_rgb(e.path().string());
  ASSERT_TRUE(render.defined());
  EXPECT_GT(count_color(render, kRed, 30), 10);
  // a run folder without metrics.jsonl is an error naming it
  ::testing::internal::CaptureStderr();
  rc = train::run_cli({"report", dir});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("has no metrics.jsonl"), std::string::npos) << err;
}
