// SPDX-License-Identifier: Apache-2.0
#include "train/report/report.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/error.h"
#include "io/datasets/scene_io.h"
#include "io/geometry/pairing.h"
#include "io/loader/batch.h"
#include "train/config.h"
#include "train/evaluate.h"
#include "train/job.h"
#include "train/metrics.h"
#include "train/progress.h"
#include "train/report/canvas.h"
#include "train/report/plot.h"
#include "train/report/render.h"

namespace fs = std::filesystem;

namespace leseg::train::report {

RunLog read_run_log(const std::string& run_dir) {
  LESEG_CHECK(fs::is_directory(run_dir), "report: run folder '", run_dir, "' does not exist");
  const fs::path p = fs::path(run_dir) / "metrics.jsonl";
  LESEG_CHECK(fs::exists(p), "report: '", run_dir, "' has no metrics.jsonl (is it a `leseg train` run folder?)");
  RunLog log;
  log.dir = run_dir;
  fs::path d = fs::absolute(run_dir).lexically_normal();
  if (d.filename().empty()) d = d.parent_path();
  log.name = d.filename().string();
  // seed folders of scripts/ablate.sh (<row>/seed<S>) are named by their row too
  if (log.name.rfind("seed", 0) == 0 && d.has_parent_path()) log.name = d.parent_path().filename().string() + "/" + log.name;
  std::ifstream f(p);
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      LESEG_FAIL("report: ", p.string(), " line ", ln, ": invalid JSON (", e.what(), ")");
    }
    LESEG_CHECK(j.is_object(), "report: ", p.string(), " line ", ln, ": not a JSON object");
    const std::string type = j.value("type", std::string());
    if (type == "train") log.train.push_back(std::move(j));
    else if (type == "eval") {
      // "iou" is written in class-id order; nlohmann::json sorts keys, ordered_json keeps the file's order
      const nlohmann::ordered_json o = nlohmann::ordered_json::parse(line);
      if (o.contains("iou") && o["iou"].is_object()) {
        log.classes.clear();
        for (auto& [k, v] : o["iou"].items()) log.classes.push_back(k);
      }
      log.eval.push_back(std::move(j));
    }
    else if (type == "end") log.end.push_back(std::move(j));
  }
  return log;
}

namespace {

std::string shell_line(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

double num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::nan("");
}

// A figure written as <out>/<file>.png and embedded in the HTML.
struct Figure {
  std::string file, caption, section;
};

class Writer {
 public:
  Writer(std::string out_dir) : out_(std::move(out_dir)) {}
  void add(const std::string& section, const std::string& file, const Canvas& c, const std::string& caption = "") {
    std::string name = file;
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.') ch = '_';
    const std::string path = (fs::path(out_) / (name + ".png")).string();
    c.write_png(path);
    figs_.push_back({name + ".png", caption, section});
    pngs_.push_back(path);
  }
  void add_image(const std::string& section, const std::string& file, const Tensor& img, const std::string& caption) {
    Canvas c(int(img.size(1)), int(img.size(0)), kWhite, 1);
    c.image(0, 0, double(img.size(1)), double(img.size(0)), img);
    add(section, file, c, caption);
  }
  const std::vector<Figure>& figures() const { return figs_; }
  const std::vector<std::string>& pngs() const { return pngs_; }
  const std::string& out() const { return out_; }

 private:
  std::string out_;
  std::vector<Figure> figs_;
  std::vector<std::string> pngs_;
};

const std::set<std::string> kTrainKeys = {"type", "step", "epoch", "batch", "loss", "scenes", "points",
                                          "elapsed_s", "terms", "lr", "grad_norm"};
const std::set<std::string> kEvalKeys = {"type", "epoch", "step", "miou", "accuracy", "num_valid_classes", "iou"};

// Series of one numeric key (or key path a.b) over the train records of each run.
std::vector<Series> per_run(const std::vector<RunLog>& runs, const std::vector<nlohmann::json> RunLog::*recs,
                            const std::string& key, const std::string& sub = "", bool markers = false) {
  std::vector<Series> out;
  for (const auto& r : runs) {
    Series s;
    s.name = r.name;
    s.markers = markers;
    for (const auto& rec : r.*recs) {
      const nlohmann::json* v = &rec;
      if (!v->contains(key)) continue;
      v = &(*v)[key];
      if (!sub.empty()) {
        if (!v->is_object() || !v->contains(sub)) continue;
        v = &(*v)[sub];
      }
      if (!v->is_number()) continue;
      s.x.push_back(num(rec, "step"));
      s.y.push_back(v->get<double>());
    }
    if (!s.x.empty()) out.push_back(std::move(s));
  }
  return out;
}

void curves(const std::vector<RunLog>& runs, Writer& w, int width, std::vector<std::string>& notes) {
  const bool multi = runs.size() > 1;
  const std::string sec = "Training curves";
  auto chart = [&](const std::string& title, const std::string& ylabel, std::vector<Series> s, bool percent = false) {
    LineChart c;
    c.title = title, c.xlabel = "optimizer step", c.ylabel = ylabel, c.series = std::move(s), c.percent = percent;
    c.width = width;
    return c;
  };
  // total loss (+ terms for one run)
  {
    std::vector<Series> s = per_run(runs, &RunLog::train, "loss");
    if (!multi && !s.empty()) s[0].name = "total";
    std::set<std::string> terms;
    for (const auto& r : runs)
      for (const auto& rec : r.train)
        if (rec.contains("terms") && rec["terms"].is_object())
          for (auto& [k, v] : rec["terms"].items()) terms.insert(k);
    if (!multi && !(terms.size() == 1 && s.size() == 1))
      for (const auto& t : terms)
        for (auto& ts : per_run(runs, &RunLog::train, "terms", t)) ts.name = t, s.push_back(std::move(ts));
    if (s.empty()) notes.push_back("no train records with a loss in metrics.jsonl: no loss curve");
    w.add(sec, "loss", draw_line_chart(chart(multi ? "total loss" : s.size() > 1 ? "loss (total and weighted terms)" : "training loss", "loss", s)));
    if (multi && terms.size() > 1)
      for (const auto& t : terms)
        w.add(sec, "loss_" + t, draw_line_chart(chart("loss term '" + t + "'", "loss", per_run(runs, &RunLog::train, "terms", t))));
  }
  // learning rates
  {
    std::vector<Series> s;
    for (const auto& r : runs) {
      std::set<std::string> slots;
      for (const auto& rec : r.train)
        if (rec.contains("lr") && rec["lr"].is_object())
          for (auto& [k, v] : rec["lr"].items()) slots.insert(k);
      for (const auto& slot : slots)
        for (auto& ls : per_run({r}, &RunLog::train, "lr", slot)) {
          ls.name = multi ? r.name + " " + slot : slot;
          s.push_back(std::move(ls));
        }
    }
    if (!s.empty()) w.add(sec, "lr", draw_line_chart(chart("learning rate", "lr", s)));
  }
  // evaluation
  {
    std::vector<Series> m = per_run(runs, &RunLog::eval, "miou", "", true);
    if (m.empty()) notes.push_back("no eval records in metrics.jsonl: no mIoU curve (train.eval_every)");
    if (m.empty()) {
      // nothing to draw
    } else if (!multi) {
      m[0].name = "mIoU";
      for (auto& a : per_run(runs, &RunLog::eval, "accuracy", "", true)) a.name = "accuracy", m.push_back(std::move(a));
      w.add(sec, "eval", draw_line_chart(chart("validation mIoU and accuracy", "score", m, true)));
    } else {
      w.add(sec, "eval_miou", draw_line_chart(chart("validation mIoU", "mIoU", m, true)));
      w.add(sec, "eval_accuracy", draw_line_chart(chart("validation accuracy", "accuracy", per_run(runs, &RunLog::eval, "accuracy", "", true), true)));
    }
  }
  // throughput from elapsed_s
  {
    std::vector<Series> sp, ss;
    for (const auto& r : runs) {
      Series a{r.name, {}, {}}, b{r.name, {}, {}};
      double ps = std::nan(""), pt = std::nan("");
      for (const auto& rec : r.train) {
        const double s = num(rec, "step"), t = num(rec, "elapsed_s"), pts = num(rec, "points");
        if (std::isfinite(ps) && std::isfinite(t) && t > pt && s > ps) {
          const double rate = (s - ps) / (t - pt);
          b.x.push_back(s), b.y.push_back(rate);
          if (std::isfinite(pts)) a.x.push_back(s), a.y.push_back(rate * pts);
        }
        ps = s, pt = t;
      }
      if (!a.x.empty()) sp.push_back(a);
      if (!b.x.empty()) ss.push_back(b);
    }
    if (!sp.empty()) w.add(sec, "throughput_points", draw_line_chart(chart("throughput (points of the logged step x steps/s)", "points/s", sp)));
    if (!ss.empty()) w.add(sec, "throughput_steps", draw_line_chart(chart("throughput", "steps/s", ss)));
  }
  {
    std::vector<Series> g = per_run(runs, &RunLog::train, "grad_norm");
    if (!g.empty()) w.add(sec, "grad_norm", draw_line_chart(chart("gradient norm (before clipping)", "norm", g)));
  }
  // every other numeric key: regime statistics (mechanism figures) and second-network metrics
  std::map<std::string, int> extra_train, extra_eval;
  for (const auto& r : runs) {
    for (const auto& rec : r.train)
      for (auto& [k, v] : rec.items())
        if (!kTrainKeys.count(k) && (v.is_number() || v.is_object())) extra_train[k] = 1;
    for (const auto& rec : r.eval)
      for (auto& [k, v] : rec.items())
        if (!kEvalKeys.count(k) && v.is_number() && k.rfind("valid_classes", 0) != 0) extra_eval[k] = 1;
  }
  for (auto& [k, _] : extra_train) {
    std::set<std::string> subs;
    for (const auto& r : runs)
      for (const auto& rec : r.train)
        if (rec.contains(k) && rec[k].is_object())
          for (auto& [s, v] : rec[k].items())
            if (v.is_number()) subs.insert(s);
    if (subs.empty()) {
      w.add("Regime statistics", "train_" + k, draw_line_chart(chart(k, k, per_run(runs, &RunLog::train, k))));
      continue;
    }
    // one run: the sub-keys whose values all lie in [0, 1] (fractions, accuracies: e.g. the training targets'
    // accuracy next to the network's) share one chart in percent; every other sub-key (and every sub-key when
    // several runs are overlaid) gets its own
    std::vector<Series> unit;
    std::set<std::string> alone = subs;
    if (!multi) {
      for (const auto& s : subs) {
        std::vector<Series> ss = per_run(runs, &RunLog::train, k, s);
        bool in01 = !ss.empty();
        for (const auto& x : ss)
          for (double y : x.y) in01 = in01 && y >= 0 && y <= 1;
        if (in01) ss[0].name = s, unit.push_back(std::move(ss[0])), alone.erase(s);
      }
      if (unit.size() == 1) alone.insert(unit[0].name), unit.clear();
      if (!unit.empty())
        w.add("Regime statistics", "train_" + k, draw_line_chart(chart("regime statistics '" + k + "' per training step", "fraction", unit, true)));
    }
    for (const auto& s : alone)
      w.add("Regime statistics", "train_" + k + "_" + s, draw_line_chart(chart(k + "." + s, s, per_run(runs, &RunLog::train, k, s))));
  }
  for (auto& [k, _] : extra_eval) {
    const bool pct = k.rfind("miou", 0) == 0 || k.rfind("acc", 0) == 0 || k.find("accuracy") != std::string::npos ||
                     k.find("fraction") != std::string::npos;
    w.add("Regime statistics", "eval_" + k, draw_line_chart(chart("evaluation: " + k, k, per_run(runs, &RunLog::eval, k, "", true), pct)));
  }
}

void iou_bars(const std::vector<RunLog>& runs, Writer& w, int width, std::vector<std::string>& notes) {
  BarChart b;
  b.title = runs.size() > 1 ? "per-class IoU, last evaluation of each run" : "per-class IoU, last evaluation";
  b.width = width;
  for (const auto& r : runs) {
    if (r.eval.empty() || !r.eval.back().contains("iou") || !r.eval.back()["iou"].is_object()) {
      notes.push_back(r.name + ": no eval record with per-class IoU");
      continue;
    }
    const auto& iou = r.eval.back()["iou"];
    if (b.categories.empty()) b.categories = r.classes;
    std::vector<double> vals;
    for (const auto& c : b.categories) vals.push_back(iou.contains(c) && iou[c].is_number() ? iou[c].get<double>() : std::nan(""));
    b.values.push_back(std::move(vals));
    char t[64];
    std::snprintf(t, sizeof t, " (mIoU %.1f)", 100.0 * num(r.eval.back(), "miou"));
    b.groups.push_back(r.name + t);
  }
  if (!b.categories.empty()) w.add("Per-class results", "iou_bars", draw_bar_chart(b));
}

// Colour of a label for renders: class colour, ignore (-1) light grey.
Rgb label_rgb(int c) { return c < 0 ? Rgb{215, 215, 215} : class_rgb(c); }

Canvas titled_grid(const std::vector<std::vector<Tensor>>& rows, const std::vector<std::string>& col_titles,
                   const std::vector<std::string>& row_titles, const std::string& title, const std::vector<std::pair<std::string, Rgb>>& legend) {
  const int gap = 6, top = 40, left = 18;
  int cw = 0, rh = 0;
  for (auto& r : rows)
    for (auto& t : r) cw = std::max(cw, int(t.size(1))), rh = std::max(rh, int(t.size(0)));
  const size_t ncol = col_titles.size();
  const int legend_rows = legend.empty() ? 0 : int((legend.size() + 5) / 6);
  Canvas c(left + int(ncol) * (cw + gap), top + int(rows.size()) * (rh + gap) + legend_rows * 14 + 8);
  c.text(c.width() / 2.0, 6, title, kBlack, 9, Align::Center);
  for (size_t j = 0; j < ncol; ++j) c.text(left + double(j) * (cw + gap) + cw / 2.0, 24, col_titles[j], kBlack, 8, Align::Center);
  for (size_t i = 0; i < rows.size(); ++i) {
    const double y = top + double(i) * (rh + gap);
    if (i < row_titles.size()) c.text_vertical(3, y + rh / 2.0, row_titles[i], kBlack, 7);
    for (size_t j = 0; j < rows[i].size(); ++j) {
      const Tensor& t = rows[i][j];
      c.image(left + double(j) * (cw + gap), y, double(t.size(1)), double(t.size(0)), t);
      c.rect_outline(left + double(j) * (cw + gap), y, left + double(j) * (cw + gap) + cw, y + rh, kLightGrey, 1);
    }
  }
  const double ly = top + double(rows.size()) * (rh + gap) + 4;
  const double colw = (c.width() - left) / 6.0;
  for (size_t k = 0; k < legend.size(); ++k) {
    const double x = left + colw * double(k % 6), y = ly + 14.0 * double(k / 6);
    c.fill_rect(x, y, x + 9, y + 9, legend[k].second);
    c.text(x + 13, y + 1, legend[k].first, kBlack, 7);
  }
  return c;
}

// Pixel colours for an (H, W) i32 label map; -1 black. Masks (ids) get hashed colours.
Tensor label_image(const Tensor& labels, bool hash_ids) {
  const int64_t H = labels.size(0), W = labels.size(1);
  Tensor out = Tensor::empty(Shape{H, W, 3}, DType::u8);
  const int32_t* p = labels.data<int32_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t i = 0; i < H * W; ++i) {
    Rgb c{0, 0, 0};
    if (p[i] >= 0) {
      if (hash_ids) {
        uint32_t h = uint32_t(p[i]) * 2654435761u;
        c = {uint8_t(60 + (h >> 8) % 190), uint8_t(60 + (h >> 16) % 190), uint8_t(60 + (h >> 24) % 190)};
      } else {
        c = class_rgb(p[i]);
      }
    }
    o[i * 3] = c.r, o[i * 3 + 1] = c.g, o[i * 3 + 2] = c.b;
  }
  return out;
}

Tensor shrink(const Tensor& img, int max_w) {
  const int64_t H = img.size(0), W = img.size(1);
  if (W <= max_w) return img;
  const int w = max_w, h = int(std::max<int64_t>(1, H * max_w / W));
  Canvas c(w, h, kWhite, 1);
  c.image(0, 0, w, h, img);
  return c.to_image();
}

struct Predicted {
  std::string name, dir;
  io::Scene scene;
  Tensor pred;  // (N,) i32
};

void predictions(const RunLog& run, const ReportOptions& opt, Writer& w, std::vector<std::string>& notes, bool multi) {
  const fs::path cfg_path = fs::path(run.dir) / "config.yaml";
  if (!fs::exists(cfg_path)) {
    notes.push_back(run.name + ": no config.yaml: no confusion matrix or renders");
    return;
  }
  if (!fs::exists(fs::path(run.dir) / "checkpoints")) {
    notes.push_back(run.name + ": no checkpoints/ folder: no confusion matrix or renders");
    return;
  }
  Config cfg = Config::from_file(cfg_path.string());
  cfg.apply_overrides(opt.overrides);
  const std::string root = cfg.get<std::string>("data.root");
  if (!fs::exists(fs::path(root) / "dataset.json")) {
    notes.push_back(run.name + ": data.root '" + root +
                    "' (from config.yaml) is not readable from here: no confusion matrix or renders (pass "
                    "--set data.root=PATH)");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  Job job = build_job(cfg, JobKind::Infer);
  const std::string ckpt = load_weights(job, run.dir);
  const std::string split = cfg.get<std::string>("data.val_split", "val");
  std::vector<std::string> names = io::read_split(root, split);
  if (opt.max_eval_scenes >= 0 && int(names.size()) > opt.max_eval_scenes) names.resize(size_t(opt.max_eval_scenes));
  const auto& classes = job.info.classes;
  const int C = int(classes.size());
  ConfusionMatrix cm(C, job.info.ignore_index);
  io::loader::BatchOptions bo = job.eval_batch;
  bo.views.enabled = false;
  int ceiling = -1;
  for (int c = 0; c < C; ++c)
    if (classes[size_t(c)] == "ceiling") ceiling = c;
  std::vector<Predicted> keep;
  {
    NoGradGuard ng;
    job.regime->set_training(false);
    for (size_t k = 0; k < names.size(); ++k) {
      Predicted p;
      p.name = names[k];
      p.dir = (fs::path(root) / "scenes" / names[k]).string();
      io::SceneReadOptions ro;
      ro.views = false;
      p.scene = io::read_scene(p.dir, ro);
      if (!p.scene.labels.defined()) continue;
      io::loader::BatchItem item;
      item.scene = &p.scene;
      Batch b = io::loader::make_batch({item}, bo);
      p.pred = point_predictions(job.regime->logits(b), b);
      cm.update(p.pred.data<int32_t>(), p.scene.labels.data<int32_t>(), p.pred.numel());
      if (int(keep.size()) < opt.scenes) keep.push_back(std::move(p));
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<int64_t> counts(size_t(C) * C);
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < C; ++j) counts[size_t(i) * C + j] = cm.at(i, j);
  char title[256];
  std::snprintf(title, sizeof title, "%s%sconfusion matrix, %zu val scenes (mIoU %.1f, accuracy %.1f)",
                multi ? run.name.c_str() : "", multi ? ": " : "", names.size(), 100.0 * cm.miou(), 100.0 * cm.accuracy());
  w.add("Per-class results", run.name + "_confusion", draw_confusion(title, classes, counts),
        "checkpoint " + ckpt + ", predicted in " + Progress::format_duration(secs));
  // renders
  for (auto& p : keep) {
    const int64_t n = p.scene.num_points();
    const float* xyz = p.scene.coords.data<float>();
    const int32_t* gt = p.scene.labels.data<int32_t>();
    const int32_t* pr = p.pred.data<int32_t>();
    const size_t nn = size_t(n);
    std::vector<Rgb> cg(nn), cp(nn), ce(nn);
    std::vector<uint8_t> vis(size_t(n), 1);
    int64_t wrong = 0, valid = 0;
    std::set<int> present;
    for (int64_t i = 0; i < n; ++i) {
      cg[size_t(i)] = label_rgb(gt[i]);
      cp[size_t(i)] = label_rgb(pr[i]);
      const bool ok = gt[i] < 0 || gt[i] == pr[i];
      ce[size_t(i)] = gt[i] < 0 ? Rgb{225, 225, 225} : ok ? Rgb{190, 190, 190} : kRed;
      if (gt[i] >= 0) ++valid, wrong += !ok;
      if (ceiling >= 0 && gt[i] == ceiling) vis[size_t(i)] = 0;
      if (gt[i] >= 0) present.insert(gt[i]);
      if (pr[i] >= 0) present.insert(pr[i]);
    }
    const int RW = 300, RH = 220;
    std::vector<std::vector<Tensor>> rows;
    for (Viewpoint vp : {Viewpoint::Oblique, Viewpoint::Top})
      rows.push_back({render_points(xyz, n, cg, vis, vp, RW, RH),
                      render_points(xyz, n, cp, vis, vp, RW, RH), render_points(xyz, n, ce, vis, vp, RW, RH)});
    std::vector<std::pair<std::string, Rgb>> legend;
    for (int c : present)
      if (c < C) legend.push_back({classes[size_t(c)], class_rgb(c)});
    legend.push_back({"wrong", kRed});
    char t[256];
    std::snprintf(t, sizeof t, "%s%sscene %s: %lld points, %.1f%% wrong%s", multi ? run.name.c_str() : "", multi ? ", " : "",
                  p.name.c_str(), static_cast<long long>(n), valid ? 100.0 * double(wrong) / double(valid) : 0.0,
                  ceiling >= 0 ? " (ceiling hidden)" : "");
    w.add("Validation scenes", run.name + "_scene_" + p.name,
          titled_grid(rows, {"ground truth", "prediction", "error (wrong in red)"}, {"oblique", "top-down"}, t, legend));
    // views: image | CLIP labels | SAM masks | projected prediction
    io::Scene withviews;
    try {
      withviews = io::read_scene(p.dir);
    } catch (const std::exception& e) {
      notes.push_back(run.name + ": scene " + p.name + ": views unreadable: " + e.what());
      continue;
    }
    if (withviews.views.empty()) continue;
    std::vector<std::vector<Tensor>> vrows;
    std::vector<std::string> vnames;
    for (size_t v = 0; v < withviews.views.size() && v < 2; ++v) {
      const io::View& view = withviews.views[v];
      if (!view.image.defined()) continue;
      const int H = view.height(), W = view.width();
      std::vector<Tensor> row = {view.image};
      row.push_back(view.clip_labels.defined() ? label_image(view.clip_labels, false) : Tensor::zeros(Shape{H, W, 3}, DType::u8));
      row.push_back(view.sam_masks.defined() ? label_image(view.sam_masks, true) : Tensor::zeros(Shape{H, W, 3}, DType::u8));
      Tensor proj = Tensor::empty(Shape{H, W, 3}, DType::u8);
      {
        const uint8_t* src = view.image.data<uint8_t>();
        uint8_t* dst = proj.data<uint8_t>();
        for (int64_t i = 0; i < int64_t(H) * W * 3; ++i) dst[i] = uint8_t(src[i] / 3);
        Tensor pix = io::project_to_view(p.scene.coords, view).to(Device::cpu());
        const int32_t* px = pix.data<int32_t>();
        for (int64_t i = 0; i < n; ++i) {
          if (px[i] < 0) continue;
          const Rgb c = label_rgb(pr[i]);
          const int u = px[i] % W, vv = px[i] / W;
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
              const int uu = u + dx, yy = vv + dy;
              if (uu < 0 || yy < 0 || uu >= W || yy >= H) continue;
              uint8_t* o = dst + (size_t(yy) * W + uu) * 3;
              o[0] = c.r, o[1] = c.g, o[2] = c.b;
            }
        }
      }
      row.push_back(proj);
      for (auto& t : row) t = shrink(t, 240);
      vrows.push_back(std::move(row));
      vnames.push_back("view " + view.name);
    }
    if (vrows.empty()) continue;
    w.add("Validation scenes", run.name + "_views_" + p.name,
          titled_grid(vrows, {"image", "CLIP-like labels", "SAM masks", "prediction projected"}, vnames,
                      "scene " + p.name + ": the 2D inputs label-free regimes learn from, and the prediction", {}));
  }
}

std::string fmt_seconds(double s) { return std::isfinite(s) ? Progress::format_duration(s) : "n/a"; }

}  // namespace

nlohmann::json run_info(const std::vector<std::string>& argv) {
  nlohmann::json j;
  std::string cmd;
  for (const auto& a : argv) {
    const bool quote = a.find_first_of(" \t'\"$") != std::string::npos || a.empty();
    cmd += (cmd.empty() ? "" : " ") + (quote ? "'" + a + "'" : a);
  }
  j["command"] = cmd;
  std::string git = shell_line("git describe --always --dirty 2>/dev/null");
  j["git"] = git.empty() ? "unknown" : git;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  j["host"] = host;
  std::string cpu = shell_line("grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2-");
  if (!cpu.empty() && cpu[0] == ' ') cpu.erase(0, 1);
  j["cpu"] = cpu;
  j["cpu_threads"] = int(sysconf(_SC_NPROCESSORS_ONLN));
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  j["started"] = buf;
  j["cwd"] = fs::current_path().string();
  return j;
}

void write_run_info(const std::string& run_dir, const std::vector<std::string>& argv) {
  const fs::path p = fs::path(run_dir) / "run.json";
  nlohmann::json j = run_info(argv);
  if (fs::exists(p)) {
    try {
      nlohmann::json old = nlohmann::json::parse(read_file_bytes(p.string()));
      if (old.is_object()) {
        old["resumes"].push_back(j);
        j = std::move(old);
      }
    } catch (const std::exception&) {
      // unreadable: replaced by this invocation's
    }
  }
  std::ofstream f(p);
  LESEG_CHECK(f.is_open(), "cannot write '", p.string(), "'");
  f << j.dump(2) << "\n";
}

ReportResult write_report(const std::vector<std::string>& run_dirs, const ReportOptions& opt) {
  LESEG_CHECK(!run_dirs.empty(), "report: no run folder given");
  std::vector<RunLog> runs;
  for (const auto& d : run_dirs) {
    runs.push_back(read_run_log(d));
    // class-id order for the IoU bars from the run's dataset (metrics.jsonl's "iou" object is sorted by name)
    try {
      const fs::path cp = fs::path(d) / "config.yaml";
      if (fs::exists(cp)) {
        Config cfg = Config::from_file(cp.string());
        cfg.apply_overrides(opt.overrides);
        const std::string root = cfg.get<std::string>("data.root", "");
        if (!root.empty() && fs::exists(fs::path(root) / "dataset.json")) {
          std::vector<std::string> cls = io::read_dataset_info(root).classes;
          std::vector<std::string> a = cls, b = runs.back().classes;
          std::sort(a.begin(), a.end()), std::sort(b.begin(), b.end());
          if (a == b) runs.back().classes = cls;
        }
      }
    } catch (const std::exception&) {
      // keep the file's order; predictions() reports an unreadable config or data root
    }
  }
  {
    std::set<std::string> seen;
    for (size_t i = 0; i < runs.size(); ++i)
      if (!seen.insert(runs[i].name).second) runs[i].name += "#" + std::to_string(i + 1);
  }
  ReportResult res;
  const std::string out = opt.out_dir.empty() ? (fs::path(run_dirs[0]) / "report").string() : opt.out_dir;
  fs::create_directories(out);
  Writer w(out);
  curves(runs, w, opt.width, res.notes);
  iou_bars(runs, w, opt.width, res.notes);
  if (opt.predict)
    for (const auto& r : runs) {
      // a run whose checkpoint or data cannot be used (moved data, a CUDA config on a CPU machine, ...) still gets
      // its curves; the reason is a note in the report and on the console
      try {
        predictions(r, opt, w, res.notes, runs.size() > 1);
      } catch (const std::exception& e) {
        res.notes.push_back(r.name + ": no confusion matrix or renders: " + e.what() +
                            " (--set key=value adjusts the run's config, e.g. device=cpu or data.root=PATH)");
      }
    }
  else
    res.notes.push_back("--no-predict: no confusion matrix or scene renders");

  // HTML
  std::ostringstream h;
  const std::string title = runs.size() == 1 ? "leseg report: " + runs[0].name : "leseg report: " + std::to_string(runs.size()) + " runs";
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << html_escape(title) << "</title>\n"
    << "<style>body{font-family:sans-serif;margin:20px;max-width:1400px;color:#222}h1{font-size:22px}h2{font-size:18px;"
       "border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}figure{display:inline-block;margin:6px;vertical-align:top}"
       "figcaption{font-size:12px;color:#555;max-width:600px}table{border-collapse:collapse;font-size:13px}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}pre{background:#f6f6f6;padding:8px;font-size:12px;"
       "max-height:420px;overflow:auto}.note{color:#a40;font-size:13px}</style></head><body>\n";
  h << "<h1>" << html_escape(title) << "</h1>\n";
  // summary table
  h << "<table><tr><th>run</th><th>folder</th><th>steps</th><th>epochs</th><th>last mIoU</th><th>best mIoU (epoch)</th>"
       "<th>accuracy</th><th>train wall time</th><th>git</th><th>host</th></tr>\n";
  for (const auto& r : runs) {
    nlohmann::json info = nlohmann::json::object();
    const fs::path ip = fs::path(r.dir) / "run.json";
    if (fs::exists(ip)) {
      try {
        info = nlohmann::json::parse(read_file_bytes(ip.string()));
      } catch (const std::exception& e) {
        res.notes.push_back(r.name + ": run.json unreadable (" + e.what() + ")");
      }
    }
    const nlohmann::json last_eval = r.eval.empty() ? nlohmann::json::object() : r.eval.back();
    const nlohmann::json end = r.end.empty() ? nlohmann::json::object() : r.end.back();
    double wall = num(end, "seconds");
    if (!std::isfinite(wall) && !r.train.empty()) wall = num(r.train.back(), "elapsed_s");
    char buf[512];
    std::snprintf(buf, sizeof buf, "<td>%.2f</td>", 100.0 * num(last_eval, "miou"));
    std::string best = "n/a";
    if (end.contains("best") && end["best"].is_object() && end["best"].contains("miou")) {
      char b2[64];
      std::snprintf(b2, sizeof b2, "%.2f (%d)", 100.0 * num(end["best"], "miou"), int(num(end["best"], "epoch")));
      best = b2;
    }
    h << "<tr><td>" << html_escape(r.name) << "</td><td>" << html_escape(r.dir) << "</td><td>"
      << (r.train.empty() ? std::string("n/a") : std::to_string(int64_t(num(r.train.back(), "step")))) << "</td><td>"
      << (r.train.empty() ? std::string("n/a") : std::to_string(int64_t(num(r.train.back(), "epoch")))) << "</td>" << buf
      << "<td>" << best << "</td>";
    std::snprintf(buf, sizeof buf, "<td>%.2f</td>", 100.0 * num(last_eval, "accuracy"));
    h << buf << "<td>" << fmt_seconds(wall) << (r.end.empty() ? " (no end record: unfinished?)" : "") << "</td><td>"
      << html_escape(info.value("git", std::string("n/a"))) << "</td><td>" << html_escape(info.value("host", std::string("n/a")))
      << "</td></tr>\n";
  }
  h << "</table>\n";
  if (!res.notes.empty()) {
    h << "<ul>\n";
    for (const auto& n : res.notes) h << "<li class=\"note\">" << html_escape(n) << "</li>\n";
    h << "</ul>\n";
  }
  std::string section;
  for (const auto& f : w.figures()) {
    if (f.section != section) {
      section = f.section;
      h << "<h2>" << html_escape(section) << "</h2>\n";
    }
    h << "<figure><img alt=\"" << html_escape(f.file) << "\" src=\"data:image/png;base64,"
      << base64(read_file_bytes((fs::path(out) / f.file).string())) << "\"><figcaption>" << html_escape(f.file)
      << (f.caption.empty() ? "" : ": " + html_escape(f.caption)) << "</figcaption></figure>\n";
  }
  // run details
  h << "<h2>Runs: configuration, command line, machine</h2>\n";
  for (const auto& r : runs) {
    h << "<h3>" << html_escape(r.name) << "</h3>\n";
    const fs::path ip = fs::path(r.dir) / "run.json";
    if (fs::exists(ip)) {
      nlohmann::json info = nlohmann::json::object();
      try {
        info = nlohmann::json::parse(read_file_bytes(ip.string()));
      } catch (const std::exception&) {
      }
      h << "<table>";
      for (auto& [k, v] : info.items())
        h << "<tr><th>" << html_escape(k) << "</th><td><code>" << html_escape(v.is_string() ? v.get<std::string>() : v.dump())
          << "</code></td></tr>";
      h << "</table>\n";
    } else {
      h << "<p class=\"note\">no run.json (runs trained before `leseg train` recorded its command line)</p>\n";
    }
    if (!r.end.empty())
      h << "<p>wall time " << fmt_seconds(num(r.end.back(), "seconds")) << ", " << int64_t(num(r.end.back(), "step"))
        << " steps" << (r.end.back().value("stopped_by_signal", false) ? ", stopped by a signal" : "") << "</p>\n";
    if (!r.eval.empty()) {
      h << "<p>evaluations: ";
      for (const auto& e : r.eval) {
        char b[96];
        std::snprintf(b, sizeof b, "epoch %d mIoU %.2f; ", int(num(e, "epoch")), 100.0 * num(e, "miou"));
        h << b;
      }
      h << "</p>\n";
    }
    const fs::path cp = fs::path(r.dir) / "config.yaml";
    if (fs::exists(cp)) h << "<details open><summary>config.yaml</summary><pre>" << html_escape(read_file_bytes(cp.string())) << "</pre></details>\n";
  }
  h << "<p style=\"font-size:11px;color:#777\">written by <code>leseg report</code>; figures also saved as PNG files next to this page</p>\n";
  h << "</body></html>\n";
  res.html_path = (fs::path(out) / "report.html").string();
  {
    std::ofstream f(res.html_path);
    LESEG_CHECK(f.is_open(), "report: cannot write '", res.html_path, "'");
    f << h.str();
  }
  res.png_paths = w.pngs();
  return res;
}

}  // namespace leseg::train::report
