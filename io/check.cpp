// SPDX-License-Identifier: Apache-2.0
#include "io/check.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "io/datasets/scene_io.h"
#include "io/formats/image.h"
#include "io/formats/npy.h"

namespace fs = std::filesystem;

namespace leseg::io {

std::string CheckProblem::str() const {
  std::ostringstream os;
  if (!scene.empty()) os << "scene '" << scene << "' ";
  if (!file.empty()) os << file;
  if (!field.empty()) os << " [" << field << "]";
  if (index >= 0) os << " index " << index;
  os << ": " << message;
  return os.str();
}

std::string CheckReport::str(size_t max_lines) const {
  std::ostringstream os;
  os << "checked " << scenes << " scenes, " << points << " points, " << views << " views";
  for (auto& [s, n] : split_scenes) {
    auto it = split_labelled.find(s);
    os << "; " << s << ": " << n << " scenes, " << (it == split_labelled.end() ? 0 : it->second) << " labelled points";
  }
  os << "\n" << errors.size() << " error(s), " << warnings.size() << " warning(s)\n";
  auto list = [&](const std::vector<CheckProblem>& v, const char* tag) {
    for (size_t i = 0; i < v.size() && i < max_lines; ++i) os << "  " << tag << ": " << v[i].str() << "\n";
    if (v.size() > max_lines) os << "  ... " << v.size() - max_lines << " more " << tag << "s\n";
  };
  list(errors, "error");
  list(warnings, "warning");
  return os.str();
}

namespace {

constexpr double kGridLimit = double(1 << 20);  // engine/sparse: voxel coordinates in [-2^20, 2^20 - 1]

bool is_float(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::f16; }
bool is_int(DType d) { return d == DType::i32 || d == DType::i64 || d == DType::u8; }

struct SceneCtx {
  std::string name, dir;
  const CheckOptions& opt;
  CheckReport& rep;
  int reported = 0, suppressed = 0;
  void error(const std::string& file, const std::string& field, int64_t index, const std::string& msg) {
    if (reported >= opt.max_per_scene) { ++suppressed; return; }
    ++reported;
    rep.errors.push_back({name, file, field, index, msg});
  }
  void warn(const std::string& file, const std::string& field, const std::string& msg) {
    rep.warnings.push_back({name, file, field, -1, msg});
  }
};

// Reads an .npy; a parse failure is reported (the message names the byte offset / header field).
bool load(SceneCtx& c, const std::string& file, Tensor& out) {
  try {
    out = read_npy(file);
    return true;
  } catch (const std::exception& e) {
    c.error(file, "file", -1, e.what());
    return false;
  }
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(7);
  os << v;
  return os.str();
}

// Rows of `t` must be n (dim 0) with the trailing dims given (-1 any); returns false (reported) otherwise.
bool shape_is(SceneCtx& c, const std::string& file, const Tensor& t, int64_t n, std::vector<int64_t> trailing,
              bool allow_column = false) {
  bool ok = t.ndim() == int(trailing.size()) + 1;
  if (!ok && allow_column && trailing.empty() && t.ndim() == 2 && t.size(1) == 1) ok = true, trailing = {1};
  if (ok) {
    if (n >= 0 && t.size(0) != n) ok = false;
    for (size_t i = 0; ok && i < trailing.size(); ++i)
      if (trailing[i] >= 0 && t.size(int(i) + 1) != trailing[i]) ok = false;
  }
  if (!ok) {
    std::string want = "(" + (n >= 0 ? std::to_string(n) : std::string("N"));
    for (int64_t d : trailing) want += ", " + (d >= 0 ? std::to_string(d) : std::string("*"));
    want += trailing.empty() ? ",)" : ")";
    c.error(file, "shape", -1, "shape " + t.shape().str() + ", expected " + want + (n >= 0 ? " (the scene's points)" : ""));
  }
  return ok;
}

void check_finite(SceneCtx& c, const std::string& file, const std::string& field, const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) {
      if (first < 0) first = int64_t(i);
      ++bad;
    }
  if (bad) {
    const int64_t row_len = t.ndim() >= 2 ? t.numel() / std::max<int64_t>(t.size(0), 1) : 1;
    c.error(file, field, first / row_len,
            std::to_string(bad) + " non-finite value(s); first " + fmt(v[size_t(first)]) + " at element " +
                std::to_string(first) + " (row " + std::to_string(first / row_len) + ")");
  }
}

void check_ids(SceneCtx& c, const std::string& file, const std::string& field, const Tensor& t, int64_t n) {
  if (!is_int(t.dtype())) {
    c.error(file, "dtype", -1, std::string("dtype ") + dtype_name(t.dtype()) + ", expected an integer type (i4)");
    return;
  }
  shape_is(c, file, t, n, {}, true);
  (void)field;
}

void check_view(SceneCtx& c, const fs::path& vd) {
  const std::string vname = vd.filename().string();
  for (auto [f, r, k] : {std::tuple{"intrinsic.txt", 3, 3}, std::tuple{"pose.txt", 4, 4}}) {
    const std::string p = (vd / f).string();
    if (!fs::exists(p)) {
      c.error(p, "file", -1, std::string("view '") + vname + "': missing " + f);
      continue;
    }
    try {
      Tensor m = read_matrix_txt(p, r, k);
      check_finite(c, p, "matrix", m);
    } catch (const std::exception& e) {
      c.error(p, "matrix", -1, e.what());
    }
  }
  int h = -1, w = -1;
  std::string first;
  auto same_size = [&](const std::string& p, int ih, int iw) {
    if (h < 0) {
      h = ih, w = iw, first = p;
    } else if (ih != h || iw != w) {
      c.error(p, "size", -1,
              "view '" + vname + "': " + std::to_string(ih) + "x" + std::to_string(iw) + " (HxW), but " +
                  fs::path(first).filename().string() + " is " + std::to_string(h) + "x" + std::to_string(w));
    }
  };
  for (const char* f : {"color.png", "color.jpg", "depth.png", "clip_label.png", "label.png"}) {
    const std::string p = (vd / f).string();
    if (!fs::exists(p)) continue;
    try {
      auto [ih, iw] = image_size(p);
      if (ih <= 0 || iw <= 0) c.error(p, "size", -1, "image of size " + std::to_string(ih) + "x" + std::to_string(iw));
      else same_size(p, ih, iw);
    } catch (const std::exception& e) {
      c.error(p, "header", -1, e.what());
    }
  }
  const std::string sm = (vd / "sam_mask.npy").string();
  Tensor t;
  if (fs::exists(sm) && load(c, sm, t)) {
    if (!is_int(t.dtype())) c.error(sm, "dtype", -1, std::string("dtype ") + dtype_name(t.dtype()) + ", expected i4");
    else if (t.ndim() != 2) c.error(sm, "shape", -1, "shape " + t.shape().str() + ", expected (H, W)");
    else same_size(sm, int(t.size(0)), int(t.size(1)));
  }
}

}  // namespace

void check_scene(const std::string& scene_dir, int num_classes, const CheckOptions& opt, CheckReport& rep,
                 int64_t* labelled) {
  SceneCtx c{fs::path(scene_dir).filename().string(), scene_dir, opt, rep};
  if (labelled) *labelled = 0;
  if (!fs::is_directory(scene_dir)) {
    c.error(scene_dir, "folder", -1, "scene folder does not exist");
    return;
  }
  ++rep.scenes;
  const fs::path d(scene_dir);
  const std::string cp = (d / "coord.npy").string();
  Tensor coords;
  int64_t n = -1;
  if (!fs::exists(cp)) {
    c.error(cp, "file", -1, "missing (coord.npy is required)");
  } else if (load(c, cp, coords)) {
    if (!is_float(coords.dtype())) {
      c.error(cp, "dtype", -1, std::string("dtype ") + dtype_name(coords.dtype()) + ", expected f4 (or f8)");
    } else if (shape_is(c, cp, coords, -1, {3})) {
      n = coords.size(0);
      rep.points += n;
      if (n == 0) c.error(cp, "points", -1, "empty scene (0 points)");
      // finite, then within the voxel grid once centred (the loader centres on the centroid)
      std::vector<double> v = coords.to_vector<double>();
      int64_t bad = 0, first = -1;
      double cen[3] = {0, 0, 0};
      for (int64_t i = 0; i < n; ++i) {
        bool fin = true;
        for (int a = 0; a < 3; ++a) fin = fin && std::isfinite(v[size_t(3 * i + a)]);
        if (!fin) {
          if (first < 0) first = i;
          ++bad;
          continue;
        }
        for (int a = 0; a < 3; ++a) cen[a] += v[size_t(3 * i + a)];
      }
      if (bad) {
        c.error(cp, "coord", first,
                std::to_string(bad) + " point(s) with a non-finite coordinate; first at point " + std::to_string(first) +
                    " = (" + fmt(v[size_t(3 * first)]) + ", " + fmt(v[size_t(3 * first + 1)]) + ", " +
                    fmt(v[size_t(3 * first + 2)]) + ")");
      } else if (n > 0) {
        for (double& x : cen) x /= double(n);
        const double limit = (kGridLimit - 1) * opt.voxel_size / std::max(opt.max_scale, 1.0);
        int64_t out = 0, far = -1;
        double far_d = 0;
        for (int64_t i = 0; i < n; ++i) {
          double r2 = 0;
          for (int a = 0; a < 3; ++a) r2 += (v[size_t(3 * i + a)] - cen[a]) * (v[size_t(3 * i + a)] - cen[a]);
          const double r = std::sqrt(r2);
          if (r >= limit) ++out;
          if (r > far_d) far_d = r, far = i;
        }
        if (out)
          c.error(cp, "coord", far,
                  std::to_string(out) + " point(s) lie " + fmt(limit) + " m or more from the scene's centroid: beyond the " +
                      "voxel grid's +-2^20 range at voxel size " + fmt(opt.voxel_size) + " m (farthest: point " +
                      std::to_string(far) + " = (" + fmt(v[size_t(3 * far)]) + ", " + fmt(v[size_t(3 * far + 1)]) + ", " +
                      fmt(v[size_t(3 * far + 2)]) + "), " + fmt(far_d) + " m away)");
      }
    }
  }
  Tensor t;
  std::string p;
  if (fs::exists(p = (d / "color.npy").string()) && load(c, p, t)) {
    if (t.dtype() != DType::u8 && !is_float(t.dtype()))
      c.error(p, "dtype", -1, std::string("dtype ") + dtype_name(t.dtype()) + ", expected u1 (or float)");
    else shape_is(c, p, t, n, {3});
  }
  if (fs::exists(p = (d / "normal.npy").string()) && load(c, p, t)) {
    if (!is_float(t.dtype())) c.error(p, "dtype", -1, std::string("dtype ") + dtype_name(t.dtype()) + ", expected f4");
    else if (shape_is(c, p, t, n, {3})) check_finite(c, p, "normal", t);
  }
  if (fs::exists(p = (d / "intensity.npy").string()) && load(c, p, t)) {
    if (!is_float(t.dtype())) c.error(p, "dtype", -1, std::string("dtype ") + dtype_name(t.dtype()) + ", expected f4");
    else if (shape_is(c, p, t, n, {}, true)) check_finite(c, p, "intensity", t);
  }
  if (fs::exists(p = (d / "segment.npy").string()) && load(c, p, t)) {
    if (!is_int(t.dtype())) {
      c.error(p, "dtype", -1, std::string("dtype ") + dtype_name(t.dtype()) + ", expected an integer type (i4)");
    } else if (shape_is(c, p, t, n, {}, true)) {
      std::vector<int64_t> l = t.to_vector<int64_t>();
      int64_t bad = 0, first = -1, lab = 0;
      for (size_t i = 0; i < l.size(); ++i) {
        const bool in = l[i] == -1 || (l[i] >= 0 && (num_classes < 0 || l[i] < num_classes));
        if (!in) {
          if (first < 0) first = int64_t(i);
          ++bad;
        } else if (l[i] >= 0) {
          ++lab;
        }
      }
      if (bad)
        c.error(p, "label", first,
                std::to_string(bad) + " label(s) outside [-1, " + std::to_string(num_classes) + "); first " +
                    std::to_string(l[size_t(first)]) + " at point " + std::to_string(first) +
                    " (dataset.json lists " + std::to_string(num_classes) + " classes, -1 = ignore)");
      if (labelled) *labelled = lab;
    }
  }
  if (fs::exists(p = (d / "instance.npy").string()) && load(c, p, t)) check_ids(c, p, "instance", t, n);
  if (fs::exists(p = (d / "geo_segment.npy").string()) && load(c, p, t)) check_ids(c, p, "geo_segment", t, n);
  const fs::path vd = d / "views";
  if (opt.views && fs::is_directory(vd)) {
    std::vector<fs::path> views;
    for (auto& e : fs::directory_iterator(vd))
      if (e.is_directory()) views.push_back(e.path());
    std::sort(views.begin(), views.end());
    for (auto& v : views) {
      ++rep.views;
      check_view(c, v);
    }
  }
  if (c.suppressed)
    rep.errors.push_back({c.name, scene_dir, "", -1, std::to_string(c.suppressed) + " more problem(s) in this scene"});
}

void check_split(const std::string& root, const std::string& split, const std::vector<std::string>& names,
                 int num_classes, const CheckOptions& opt, CheckReport& rep) {
  int64_t labelled = 0;
  const std::string list = (fs::path(root) / (split + ".txt")).string();
  // Scenes are checked in parallel (each into its own report), then merged in split order: the report is the
  // same whatever the thread count.
  std::vector<CheckReport> per(names.size());
  std::vector<int64_t> lab(names.size(), 0);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < names.size();) {
      const fs::path sd = fs::path(root) / "scenes" / names[i];
      try {
        if (!fs::is_directory(sd))
          per[i].errors.push_back({names[i], list, "split", -1,
                                   "listed in " + split + ".txt but '" + sd.string() + "' does not exist"});
        else
          check_scene(sd.string(), num_classes, opt, per[i], &lab[i]);
      } catch (const std::exception& e) {  // e.g. out of memory on a huge scene: reported, not fatal to the others
        per[i].errors.push_back({names[i], sd.string(), "", -1, e.what()});
      }
    }
  };
  const int threads = int(std::min<size_t>(names.size(), size_t(std::max(1, opt.threads > 0 ? opt.threads
                                                                                    : int(std::thread::hardware_concurrency())))));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < names.size(); ++i) {
    rep.scenes += per[i].scenes;
    rep.points += per[i].points;
    rep.views += per[i].views;
    rep.errors.insert(rep.errors.end(), per[i].errors.begin(), per[i].errors.end());
    rep.warnings.insert(rep.warnings.end(), per[i].warnings.begin(), per[i].warnings.end());
    labelled += lab[i];
  }
  rep.split_scenes[split] += int64_t(names.size());
  rep.split_labelled[split] += labelled;
  if (names.empty()) rep.warnings.push_back({"", list, "split", -1, "lists no scene"});
  else if (labelled == 0)
    rep.warnings.push_back({"", list, "labels", -1,
                            "no point of the " + std::to_string(names.size()) +
                                " scene(s) carries a label (all -1 or no segment.npy): supervised training learns "
                                "nothing and evaluation has no class to score"});
}

CheckReport check_dataset(const std::string& root, const CheckOptions& opt) {
  CheckReport rep;
  LESEG_CHECK(fs::is_directory(root), "data check: '", root, "' is not a directory");
  int num_classes = -1;
  const std::string dj = (fs::path(root) / "dataset.json").string();
  if (!fs::exists(dj)) {
    rep.errors.push_back({"", dj, "file", -1, "missing (labels cannot be range-checked)"});
  } else {
    try {
      DatasetInfo info = read_dataset_info(root);
      num_classes = int(info.classes.size());
      if (num_classes == 0) rep.errors.push_back({"", dj, "classes", -1, "lists no class"});
      if (!info.text_embeddings.defined())
        rep.warnings.push_back({"", (fs::path(root) / "text_embeddings.npy").string(), "file", -1,
                                "missing: fine for supervised training; the label-free regimes (clip2scene, hicl, "
                                "cns) need class text embeddings"});
    } catch (const std::exception& e) {
      rep.errors.push_back({"", dj, "file", -1, e.what()});
    }
  }
  std::vector<std::string> splits = opt.splits;
  if (splits.empty()) {
    for (auto& e : fs::directory_iterator(root))
      if (e.is_regular_file() && e.path().extension() == ".txt") splits.push_back(e.path().stem().string());
    std::sort(splits.begin(), splits.end());
    if (splits.empty()) rep.errors.push_back({"", root, "split", -1, "no <split>.txt (train.txt, val.txt) in the root"});
  }
  for (const auto& s : splits) {
    const std::string list = (fs::path(root) / (s + ".txt")).string();
    if (!fs::exists(list)) {
      rep.errors.push_back({"", list, "split", -1, "missing"});
      continue;
    }
    check_split(root, s, read_split(root, s), num_classes, opt, rep);
  }
  return rep;
}

}  // namespace leseg::io
