// SPDX-License-Identifier: Apache-2.0
#include "train/infer.h"

#include <algorithm>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/error.h"
#include "io/datasets/scene_io.h"
#include "io/formats/npy.h"
#include "io/formats/ply.h"
#include "train/evaluate.h"

namespace fs = std::filesystem;

namespace leseg::train {

io::Scene read_scene_any(const std::string& path) {
  LESEG_CHECK(fs::exists(path), "--scene: '", path, "' does not exist");
  if (fs::is_directory(path)) {
    io::SceneReadOptions ro;
    ro.views = false;
    io::Scene s = io::read_scene(path, ro);
    if (s.name.empty()) s.name = fs::path(path).filename().string();
    return s;
  }
  LESEG_CHECK(fs::path(path).extension() == ".ply", "--scene: '", path, "' is neither a scene directory nor a .ply file");
  io::PlyData ply = io::read_ply(path);
  io::Scene s;
  s.name = fs::path(path).stem().string();
  const int64_t n = ply.num_vertices;
  const auto &x = ply.get("x"), &y = ply.get("y"), &z = ply.get("z");
  s.coords = Tensor::empty(Shape{n, 3}, DType::f32);
  float* pc = s.coords.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    pc[i * 3] = float(x[size_t(i)]);
    pc[i * 3 + 1] = float(y[size_t(i)]);
    pc[i * 3 + 2] = float(z[size_t(i)]);
  }
  if (ply.has("red") && ply.has("green") && ply.has("blue")) {
    s.colors = Tensor::empty(Shape{n, 3}, DType::u8);
    uint8_t* p = s.colors.data<uint8_t>();
    const auto &r = ply.get("red"), &g = ply.get("green"), &b = ply.get("blue");
    for (int64_t i = 0; i < n; ++i) {
      p[i * 3] = uint8_t(std::clamp(r[size_t(i)], 0.0, 255.0));
      p[i * 3 + 1] = uint8_t(std::clamp(g[size_t(i)], 0.0, 255.0));
      p[i * 3 + 2] = uint8_t(std::clamp(b[size_t(i)], 0.0, 255.0));
    }
  }
  return s;
}

void class_color(int c, uint8_t rgb[3]) {
  static const uint8_t pal[20][3] = {
      {174, 199, 232}, {152, 223, 138}, {31, 119, 180}, {255, 187, 120}, {188, 189, 34},  {140, 86, 75},  {255, 152, 150},
      {214, 39, 40},   {197, 176, 213}, {148, 103, 189}, {196, 156, 148}, {23, 190, 207}, {247, 182, 210}, {219, 219, 141},
      {255, 127, 14},  {158, 218, 229}, {44, 160, 44},  {112, 128, 144}, {227, 119, 194}, {82, 84, 163}};
  if (c < 0) {
    rgb[0] = rgb[1] = rgb[2] = 0;
    return;
  }
  for (int k = 0; k < 3; ++k) rgb[k] = pal[c % 20][k];
}

InferResult infer_scene(Job& job, const std::string& scene_path, const std::string& out_dir) {
  io::Scene scene = read_scene_any(scene_path);
  LESEG_CHECK(scene.num_points() > 0, "--scene: '", scene_path, "' has no points");
  const std::string name = scene.name;
  const bool has_gt = scene.labels.defined();
  io::loader::BatchItem item;
  item.scene = &scene;
  Batch b = io::loader::make_batch({item}, job.eval_batch);
  Tensor pred;
  {
    NoGradGuard ng;
    job.regime->set_training(false);
    pred = point_predictions(job.regime->logits(b), b);  // (N,) i32
  }
  fs::create_directories(out_dir);
  InferResult r;
  r.points = pred.numel();
  r.labels_path = (fs::path(out_dir) / (name + "_labels.npy")).string();
  r.ply_path = (fs::path(out_dir) / (name + "_pred.ply")).string();
  io::write_npy(r.labels_path, pred);
  const int64_t n = pred.numel();
  const int32_t* pp = pred.data<int32_t>();
  const float* pc = scene.coords.data<float>();  // original (uncentred) positions, same point order
  std::vector<io::PlyColumn> cols = {{"x", io::PlyType::f32, {}}, {"y", io::PlyType::f32, {}}, {"z", io::PlyType::f32, {}},
                                     {"red", io::PlyType::u8, {}}, {"green", io::PlyType::u8, {}},
                                     {"blue", io::PlyType::u8, {}}, {"label", io::PlyType::i32, {}}};
  if (has_gt) cols.push_back({"gt", io::PlyType::i32, {}});
  for (auto& c : cols) c.values.resize(size_t(n));
  r.class_histogram.assign(job.info.classes.size(), 0);
  const int32_t* pg = has_gt ? scene.labels.data<int32_t>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    uint8_t rgb[3];
    class_color(pp[i], rgb);
    for (int k = 0; k < 3; ++k) {
      cols[size_t(k)].values[size_t(i)] = pc[i * 3 + k];
      cols[size_t(3 + k)].values[size_t(i)] = rgb[k];
    }
    cols[6].values[size_t(i)] = pp[i];
    if (has_gt) cols[7].values[size_t(i)] = pg[i];
    if (pp[i] >= 0 && size_t(pp[i]) < r.class_histogram.size()) ++r.class_histogram[size_t(pp[i])];
  }
  io::write_ply(r.ply_path, cols);
  return r;
}

}  // namespace leseg::train
