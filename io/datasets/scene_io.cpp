// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/scene_io.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/formats/file_io.h"
#include "io/formats/image.h"
#include "io/formats/npy.h"

namespace fs = std::filesystem;

namespace leseg::io {

namespace {

std::string join(const std::string& a, const std::string& b) { return (fs::path(a) / b).string(); }

void check_shape(const Tensor& t, const std::string& what, std::initializer_list<int64_t> dims, int64_t n_first = -1) {
  LESEG_CHECK(t.ndim() == int(dims.size()), what, ": shape ", t.shape().str(), " has the wrong rank");
  int i = 0;
  for (int64_t d : dims) {
    if (d >= 0) LESEG_CHECK(t.size(i) == d, what, ": shape ", t.shape().str(), ", dim ", i, " must be ", d);
    ++i;
  }
  if (n_first >= 0) LESEG_CHECK(t.size(0) == n_first, what, ": ", t.size(0), " rows for ", n_first, " points");
}

Tensor to_f32(const Tensor& t, const std::string& what) {
  if (t.dtype() == DType::f32) return t;
  LESEG_CHECK(t.dtype() == DType::f64 || t.dtype() == DType::f16, what, ": dtype ", dtype_name(t.dtype()), ", expected f4 or f8");
  return t.to(DType::f32).detach();
}

Tensor to_i32(const Tensor& t, const std::string& what) {
  if (t.dtype() == DType::i32) return t;
  LESEG_CHECK(t.dtype() == DType::i64 || t.dtype() == DType::u8, what, ": dtype ", dtype_name(t.dtype()), ", expected an integer type");
  std::vector<int64_t> v = t.to_vector<int64_t>();
  for (size_t i = 0; i < v.size(); ++i)
    LESEG_CHECK(v[i] >= INT32_MIN && v[i] <= INT32_MAX, what, ": value ", v[i], " at index ", i, " does not fit i32");
  return t.to(DType::i32);
}

Tensor to_u8_colors(const Tensor& t, const std::string& what) {
  if (t.dtype() == DType::u8) return t;
  std::vector<double> v = t.to_vector<double>();
  Tensor r = Tensor::empty(t.shape(), DType::u8);
  uint8_t* d = r.data<uint8_t>();
  for (size_t i = 0; i < v.size(); ++i) d[i] = uint8_t(std::clamp(std::isfinite(v[i]) ? std::lround(v[i]) : 0L, 0L, 255L));
  return r;
}

Tensor maybe_npy(const std::string& path) { return fs::exists(path) ? read_npy(path) : Tensor(); }

Tensor u16_png_to_labels(const Tensor& png) {
  Tensor r = Tensor::empty(png.shape(), DType::i32);
  const int32_t* s = png.data<int32_t>();
  int32_t* d = r.data<int32_t>();
  for (int64_t i = 0; i < png.numel(); ++i) d[i] = s[i] == 65535 ? -1 : s[i];
  return r;
}

Tensor labels_to_u16_png(const Tensor& lab, const std::string& what) {
  std::vector<int64_t> v = lab.to_vector<int64_t>();
  Tensor r = Tensor::empty(lab.shape(), DType::i32);
  int32_t* d = r.data<int32_t>();
  for (size_t i = 0; i < v.size(); ++i) {
    LESEG_CHECK(v[i] >= -1 && v[i] < 65535, what, ": label ", v[i], " at index ", i, " outside [-1, 65534]");
    d[i] = v[i] < 0 ? 65535 : int32_t(v[i]);
  }
  return r;
}

void write_view(const std::string& dir, const View& v) {
  fs::create_directories(dir);
  if (v.image.defined()) write_png_rgb(join(dir, "color.png"), v.image);
  if (v.depth.defined()) {
    std::vector<float> d = v.depth.to_vector<float>();
    Tensor mm = Tensor::empty(v.depth.shape(), DType::i32);
    int32_t* p = mm.data<int32_t>();
    for (size_t i = 0; i < d.size(); ++i) {
      float x = d[i];
      p[i] = (std::isfinite(x) && x > 0) ? int32_t(std::min(65535.0, std::round(double(x) * 1000.0))) : 0;
    }
    write_png_u16(join(dir, "depth.png"), mm);
  }
  if (v.intrinsics.defined()) write_matrix_txt(join(dir, "intrinsic.txt"), v.intrinsics);
  if (v.cam_to_world.defined()) write_matrix_txt(join(dir, "pose.txt"), v.cam_to_world);
  if (v.clip_labels.defined()) write_png_u16(join(dir, "clip_label.png"), labels_to_u16_png(v.clip_labels, dir + " clip_labels"));
  if (v.clip_logits.defined()) write_npy(join(dir, "clip_logits.npy"), v.clip_logits);
  if (v.clip_features.defined()) write_npy(join(dir, "clip_feat.npy"), v.clip_features.to(DType::f16));
  if (v.gt_labels.defined()) write_png_u16(join(dir, "label.png"), labels_to_u16_png(v.gt_labels, dir + " gt_labels"));
  if (v.sam_masks.defined()) write_npy(join(dir, "sam_mask.npy"), v.sam_masks);
  if (v.sam_features.defined()) write_npy(join(dir, "sam_feat.npy"), v.sam_features);
  if (v.caption_scene.defined()) write_npy(join(dir, "caption_scene.npy"), v.caption_scene);
  if (v.caption_objects.defined()) write_npy(join(dir, "caption_objects.npy"), v.caption_objects);
  if (v.caption_object_ids.defined()) write_npy(join(dir, "caption_object_ids.npy"), v.caption_object_ids);
}

View read_view(const std::string& dir, const std::string& name, const SceneReadOptions& opt) {
  View v;
  v.name = name;
  std::string p;
  if (opt.view_images && fs::exists(p = join(dir, "color.png"))) v.image = read_image_rgb(p);
  if (fs::exists(p = join(dir, "depth.png"))) {
    Tensor mm = read_image_u16(p);
    v.depth = Tensor::empty(mm.shape(), DType::f32);
    const int32_t* s = mm.data<int32_t>();
    float* d = v.depth.data<float>();
    for (int64_t i = 0; i < mm.numel(); ++i) d[i] = float(s[i]) / 1000.f;
  }
  if (fs::exists(p = join(dir, "intrinsic.txt"))) v.intrinsics = read_matrix_txt(p, 3, 3);
  if (fs::exists(p = join(dir, "pose.txt"))) v.cam_to_world = read_matrix_txt(p, 4, 4);
  if (fs::exists(p = join(dir, "clip_label.png"))) v.clip_labels = u16_png_to_labels(read_image_u16(p));
  if (fs::exists(p = join(dir, "clip_logits.npy"))) {
    v.clip_logits = to_f32(read_npy(p), p);
    LESEG_CHECK(v.clip_logits.ndim() == 3 && v.clip_logits.size(0) > 0 && v.clip_logits.size(1) > 0 &&
                    v.clip_logits.size(2) > 0,
                p, ": expected (h, w, C) logits with h, w, C >= 1, got ", v.clip_logits.shape().str());
  }
  if (fs::exists(p = join(dir, "clip_feat.npy"))) {
    Tensor raw = read_npy(p);
    LESEG_CHECK(raw.dtype() == DType::f16 || raw.dtype() == DType::f32, p, ": dense CLIP features must be f2 or f4, "
                "got ", dtype_name(raw.dtype()));
    v.clip_features = to_f32(raw, p);
    LESEG_CHECK(v.clip_features.ndim() == 3 && v.clip_features.size(0) > 0 && v.clip_features.size(1) > 0 &&
                    v.clip_features.size(2) > 0,
                p, ": expected (h, w, D) features with h, w, D >= 1, got ", v.clip_features.shape().str());
  }
  if (fs::exists(p = join(dir, "sam_mask.npy"))) v.sam_masks = to_i32(read_npy(p), p);
  if (opt.view_extras) {
    if (fs::exists(p = join(dir, "label.png"))) v.gt_labels = u16_png_to_labels(read_image_u16(p));
    if (fs::exists(p = join(dir, "sam_feat.npy"))) v.sam_features = to_f32(read_npy(p), p);
    if (fs::exists(p = join(dir, "caption_scene.npy"))) v.caption_scene = to_f32(read_npy(p), p);
    if (fs::exists(p = join(dir, "caption_objects.npy"))) v.caption_objects = to_f32(read_npy(p), p);
    if (fs::exists(p = join(dir, "caption_object_ids.npy"))) v.caption_object_ids = to_i32(read_npy(p), p);
  }
  return v;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Tensor read_matrix_txt(const std::string& path, int rows, int cols) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open matrix file");
  std::vector<float> v;
  std::string tok;
  while (f >> tok) {
    char* e = nullptr;
    double x = std::strtod(tok.c_str(), &e);
    if (*e) LESEG_FAIL(path, ": value ", v.size(), " ('", tok, "') is not a number");
    v.push_back(float(x));
  }
  if (int64_t(v.size()) != int64_t(rows) * cols)
    LESEG_FAIL(path, ": ", v.size(), " values, expected a ", rows, "x", cols, " matrix");
  return Tensor::from_vector<float>(v, Shape{rows, cols});
}

void write_matrix_txt(const std::string& path, const Tensor& m) {
  LESEG_CHECK(m.ndim() == 2, "write_matrix_txt(", path, "): shape ", m.shape().str(), " is not a matrix");
  std::vector<double> v = m.to_vector<double>();
  std::ostringstream os;
  os.precision(9);
  for (int64_t r = 0; r < m.size(0); ++r) {
    for (int64_t c = 0; c < m.size(1); ++c) os << (c ? " " : "") << v[size_t(r * m.size(1) + c)];
    os << "\n";
  }
  write_file_text(path, os.str());
}

void write_scene(const std::string& dir, const Scene& s) {
  LESEG_CHECK(s.coords.defined(), "write_scene(", dir, "): scene '", s.name, "' has no coords");
  check_shape(s.coords, dir + " coords", {-1, 3});
  const int64_t n = s.coords.size(0);
  fs::create_directories(dir);
  write_npy(join(dir, "coord.npy"), to_f32(s.coords, "coords"));
  if (s.colors.defined()) { check_shape(s.colors, dir + " colors", {n, 3}); write_npy(join(dir, "color.npy"), to_u8_colors(s.colors, "colors")); }
  if (s.normals.defined()) { check_shape(s.normals, dir + " normals", {n, 3}); write_npy(join(dir, "normal.npy"), to_f32(s.normals, "normals")); }
  if (s.intensity.defined()) { check_shape(s.intensity, dir + " intensity", {n}); write_npy(join(dir, "intensity.npy"), to_f32(s.intensity, "intensity")); }
  if (s.times.defined()) { check_shape(s.times, dir + " time", {n}); write_npy(join(dir, "time.npy"), to_f32(s.times, "time")); }
  if (s.labels.defined()) { check_shape(s.labels, dir + " labels", {n}); write_npy(join(dir, "segment.npy"), to_i32(s.labels, "labels")); }
  if (s.instances.defined()) { check_shape(s.instances, dir + " instances", {n}); write_npy(join(dir, "instance.npy"), to_i32(s.instances, "instances")); }
  if (s.segments.defined()) { check_shape(s.segments, dir + " segments", {n}); write_npy(join(dir, "geo_segment.npy"), to_i32(s.segments, "segments")); }
  for (size_t k = 0; k < s.views.size(); ++k) {
    std::string vn = s.views[k].name.empty() ? std::to_string(k) : s.views[k].name;
    LESEG_CHECK(vn.find('/') == std::string::npos && vn != "." && vn != "..", "write_scene(", dir, "): bad view name '", vn, "'");
    write_view(join(join(dir, "views"), vn), s.views[k]);
  }
}

Scene read_scene(const std::string& dir, const SceneReadOptions& opt) {
  if (!fs::is_directory(dir)) LESEG_FAIL(dir, ": scene directory does not exist");
  Scene s;
  s.name = fs::path(dir).filename().string();
  if (s.name.empty()) s.name = fs::path(dir).parent_path().filename().string();
  std::string p = join(dir, "coord.npy");
  if (!fs::exists(p)) LESEG_FAIL(dir, ": no coord.npy (required)");
  s.coords = to_f32(read_npy(p), p);
  check_shape(s.coords, p, {-1, 3});
  const int64_t n = s.coords.size(0);
  if ((s.colors = maybe_npy(p = join(dir, "color.npy"))).defined()) { s.colors = to_u8_colors(s.colors, p); check_shape(s.colors, p, {n, 3}); }
  if ((s.normals = maybe_npy(p = join(dir, "normal.npy"))).defined()) { s.normals = to_f32(s.normals, p); check_shape(s.normals, p, {n, 3}); }
  if ((s.intensity = maybe_npy(p = join(dir, "intensity.npy"))).defined()) { s.intensity = to_f32(s.intensity, p).reshape(Shape{-1}); check_shape(s.intensity, p, {n}); }
  if ((s.times = maybe_npy(p = join(dir, "time.npy"))).defined()) { s.times = to_f32(s.times, p).reshape(Shape{-1}); check_shape(s.times, p, {n}); }
  if ((s.labels = maybe_npy(p = join(dir, "segment.npy"))).defined()) { s.labels = to_i32(s.labels, p).reshape(Shape{-1}); check_shape(s.labels, p, {n}); }
  if ((s.instances = maybe_npy(p = join(dir, "instance.npy"))).defined()) { s.instances = to_i32(s.instances, p).reshape(Shape{-1}); check_shape(s.instances, p, {n}); }
  if ((s.segments = maybe_npy(p = join(dir, "geo_segment.npy"))).defined()) { s.segments = to_i32(s.segments, p).reshape(Shape{-1}); check_shape(s.segments, p, {n}); }
  std::string vdir = join(dir, "views");
  if (opt.views && fs::is_directory(vdir)) {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(vdir))
      if (e.is_directory()) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      if (all_digits(a) && all_digits(b) && a.size() != b.size()) return a.size() < b.size();
      return a < b;
    });
    for (auto& nm : names) s.views.push_back(read_view(join(vdir, nm), nm, opt));
  }
  return s;
}

void write_dataset_info(const std::string& root, const DatasetInfo& info) {
  fs::create_directories(root);
  nlohmann::json j;
  j["name"] = info.name;
  j["classes"] = info.classes;
  j["ignore_index"] = info.ignore_index;
  if (info.text_embeddings.defined()) {
    LESEG_CHECK(info.text_embeddings.ndim() == 2 && info.text_embeddings.size(0) == int64_t(info.classes.size()),
                "write_dataset_info(", root, "): text_embeddings ", info.text_embeddings.shape().str(), " for ", info.classes.size(), " classes");
    j["text_dim"] = info.text_embeddings.size(1);
    write_npy(join(root, "text_embeddings.npy"), to_f32(info.text_embeddings, "text_embeddings"));
  }
  write_file_text(join(root, "dataset.json"), j.dump(2) + "\n");
}

DatasetInfo read_dataset_info(const std::string& root) {
  std::string p = join(root, "dataset.json");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_text(p));
  } catch (const nlohmann::json::exception& e) {
    LESEG_FAIL(p, ": invalid JSON: ", e.what());
  }
  DatasetInfo info;
  try {
    info.name = j.value("name", std::string());
    if (!j.contains("classes") || !j["classes"].is_array()) LESEG_FAIL(p, ": field 'classes' (array of names) missing");
    info.classes = j["classes"].get<std::vector<std::string>>();
    info.ignore_index = j.value("ignore_index", -1);
  } catch (const nlohmann::json::exception& e) {
    LESEG_FAIL(p, ": bad field type: ", e.what());
  }
  std::string te = join(root, "text_embeddings.npy");
  if (fs::exists(te)) {
    info.text_embeddings = to_f32(read_npy(te), te);
    LESEG_CHECK(info.text_embeddings.ndim() == 2 && info.text_embeddings.size(0) == int64_t(info.classes.size()),
                te, ": shape ", info.text_embeddings.shape().str(), " for ", info.classes.size(), " classes");
    if (j.contains("text_dim"))
      LESEG_CHECK(j["text_dim"].is_number_integer() && j["text_dim"].get<int64_t>() == info.text_embeddings.size(1),
                  p, ": text_dim disagrees with ", te, " shape ", info.text_embeddings.shape().str());
  }
  return info;
}

void write_split(const std::string& root, const std::string& split, const std::vector<std::string>& names) {
  fs::create_directories(root);
  std::string t;
  for (auto& n : names) t += n + "\n";
  write_file_text(join(root, split + ".txt"), t);
}

std::vector<std::string> read_split(const std::string& root, const std::string& split) {
  std::string p = join(root, split + ".txt");
  std::istringstream is(read_file_text(p));
  std::vector<std::string> r;
  std::string line;
  while (std::getline(is, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) r.push_back(line);
  }
  return r;
}

}  // namespace leseg::io
