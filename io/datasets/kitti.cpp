// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/kitti.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "io/datasets/nuscenes.h"
#include "io/formats/image.h"

namespace leseg::io {

std::map<std::string, std::vector<double>> read_kitti_calib_entries(const std::string& path) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open KITTI calib file");
  std::map<std::string, std::vector<double>> out;
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) LESEG_FAIL(path, ": line ", line_no, " has no 'NAME:'");
    std::string name = line.substr(0, colon);
    std::istringstream is(line.substr(colon + 1));
    std::vector<double> v;
    std::string tok;
    while (is >> tok) {
      char* e = nullptr;
      double x = std::strtod(tok.c_str(), &e);
      if (*e || !std::isfinite(x)) LESEG_FAIL(path, ": line ", line_no, " (", name, "): '", tok, "' is not a finite number");
      v.push_back(x);
    }
    out[name] = v;
  }
  return out;
}

namespace {

std::vector<double> mat4(const std::vector<double>& m34) {
  std::vector<double> m(16, 0.0);
  for (int i = 0; i < 12; ++i) m[size_t(i)] = m34[size_t(i)];
  m[15] = 1.0;
  return m;
}

std::vector<double> mul4(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> c(16, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 4; ++k) c[size_t(4 * i + j)] += a[size_t(4 * i + k)] * b[size_t(4 * k + j)];
  return c;
}

}  // namespace

KittiCamera kitti_camera(const std::map<std::string, std::vector<double>>& calib, const std::string& path,
                         const std::string& camera) {
  auto get = [&](const std::string& name, size_t n) -> const std::vector<double>* {
    auto it = calib.find(name);
    if (it == calib.end()) return nullptr;
    if (it->second.size() != n) LESEG_FAIL(path, ": ", name, " has ", it->second.size(), " values, expected ", n);
    return &it->second;
  };
  KittiCamera c;
  const auto* P = get(camera, 12);
  if (!P) LESEG_FAIL(path, ": no ", camera, ": entry (3x4 projection)");
  c.P = *P;
  const auto* tr = get("Tr_velo_to_cam", 12);
  if (!tr) tr = get("Tr", 12);
  if (!tr) LESEG_FAIL(path, ": neither Tr_velo_to_cam: (object layout) nor Tr: (odometry layout)");
  std::vector<double> R0(16, 0.0);
  R0[15] = 1.0;
  if (const auto* r = get("R0_rect", 9)) {
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) R0[size_t(4 * i + j)] = (*r)[size_t(3 * i + j)];
  } else {
    R0[0] = R0[5] = R0[10] = 1.0;  // odometry: Tr already maps to the rectified camera 0
  }
  c.world_to_rect = mul4(R0, mat4(*tr));
  return c;
}

FoldedCamera fold_projection(const std::vector<double>& P, const std::vector<double>& world_to_rect) {
  LESEG_CHECK(P.size() == 12 && world_to_rect.size() == 16, "fold_projection: P must have 12 values, world_to_rect 16");
  const double fx = P[0], s = P[1], cx = P[2], fy = P[5], cy = P[6];
  LESEG_CHECK(std::abs(P[4]) < 1e-9 && std::abs(P[8]) < 1e-9 && std::abs(P[9]) < 1e-9 && std::abs(P[10] - 1.0) < 1e-9,
              "fold_projection: P's 3x3 part must be upper triangular with K[2] = (0, 0, 1) (got row 1 [", P[4], " ",
              P[5], " ", P[6], "], row 2 [", P[8], " ", P[9], " ", P[10], "])");
  LESEG_CHECK(std::abs(fx) > 1e-9 && std::abs(fy) > 1e-9, "fold_projection: zero focal length");
  // t = K^-1 p4 for K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]].
  const double p0 = P[3], p1 = P[7], p2 = P[11];
  const double tz = p2, ty = (p1 - cy * tz) / fy, tx = (p0 - s * ty - cx * tz) / fx;
  std::vector<double> shift = {1, 0, 0, tx, 0, 1, 0, ty, 0, 0, 1, tz, 0, 0, 0, 1};
  std::vector<double> w2c = mul4(shift, world_to_rect);
  FoldedCamera out;
  out.intrinsics = Tensor::from_vector(std::vector<float>{float(fx), float(s), float(cx), 0.f, float(fy), float(cy), 0.f, 0.f, 1.f},
                                       Shape{3, 3});
  out.cam_to_world = inverse4x4(Tensor::from_vector(std::vector<float>(w2c.begin(), w2c.end()), Shape{4, 4}));
  return out;
}

Scene read_kitti_frame(const std::string& bin_path, const std::string& image_path, const std::string& calib_path,
                       const std::string& label_path, const std::map<int, int>& learning_map, KittiReport* report) {
  Scene s = read_semantickitti_scan(bin_path, label_path, learning_map, report);
  if (!image_path.empty()) {
    auto calib = read_kitti_calib_entries(calib_path);
    KittiCamera cam = kitti_camera(calib, calib_path, "P2");
    FoldedCamera f = fold_projection(cam.P, cam.world_to_rect);
    View v;
    v.name = "image_2";
    v.image = read_image_rgb(image_path);
    v.intrinsics = f.intrinsics;
    v.cam_to_world = f.cam_to_world;
    s.views.push_back(std::move(v));
  }
  return s;
}

}  // namespace leseg::io
