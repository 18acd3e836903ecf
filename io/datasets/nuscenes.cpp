// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/nuscenes.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/formats/file_io.h"
#include "io/formats/image.h"

namespace fs = std::filesystem;

namespace leseg::io {

Tensor read_lidar_bin(const std::string& path, int k) {
  LESEG_CHECK(k > 0, "read_lidar_bin: values_per_point must be positive");
  std::vector<uint8_t> b = read_file_bytes(path);
  if (b.size() % (4 * size_t(k))) LESEG_FAIL(path, ": size ", b.size(), " is not a multiple of ", 4 * k, " bytes (", k, " float32 per point)");
  int64_t n = int64_t(b.size() / (4 * size_t(k)));
  Tensor t = Tensor::empty(Shape{n, k}, DType::f32);
  if (n) std::memcpy(t.data_ptr(), b.data(), b.size());
  return t;
}

NuScenesCalibration read_nuscenes_calibration(const std::string& path) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open calibration file");
  NuScenesCalibration c;
  std::string line;
  int line_no = 0;
  auto numbers = [&](std::istringstream& is, size_t expect, const std::string& what) {
    std::vector<float> v;
    std::string tok;
    while (is >> tok) {
      char* e = nullptr;
      double x = std::strtod(tok.c_str(), &e);
      if (*e) LESEG_FAIL(path, ": line ", line_no, " (", what, "): '", tok, "' is not a number");
      v.push_back(float(x));
    }
    if (v.size() != expect) LESEG_FAIL(path, ": line ", line_no, " (", what, ") has ", v.size(), " values, expected ", expect);
    return v;
  };
  auto camera = [&](const std::string& name) -> NuScenesCamera& {
    for (auto& cam : c.cameras)
      if (cam.name == name) return cam;
    c.cameras.push_back(NuScenesCamera{name, "", Tensor(), Tensor(), Tensor()});
    return c.cameras.back();
  };
  while (std::getline(f, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::string a, b;
    is >> a;
    if (a == "lidar2ego") c.lidar2ego = Tensor::from_vector(numbers(is, 16, a), Shape{4, 4});
    else if (a == "ego2global") c.ego2global = Tensor::from_vector(numbers(is, 16, a), Shape{4, 4});
    else {
      is >> b;
      if (b == "image") {
        std::string file;
        is >> file;
        if (file.empty()) LESEG_FAIL(path, ": line ", line_no, ": '", a, " image' without a file name");
        camera(a).image_file = file;
      } else if (b == "cam2img") camera(a).cam2img = Tensor::from_vector(numbers(is, 9, a + " cam2img"), Shape{3, 3});
      else if (b == "lidar2cam") camera(a).lidar2cam = Tensor::from_vector(numbers(is, 16, a + " lidar2cam"), Shape{4, 4});
      else if (b == "cam2ego") camera(a).cam2ego = Tensor::from_vector(numbers(is, 16, a + " cam2ego"), Shape{4, 4});
      else LESEG_FAIL(path, ": line ", line_no, ": unknown entry '", a, " ", b, "'");
    }
  }
  for (auto& cam : c.cameras)
    if (cam.image_file.empty() || !cam.cam2img.defined() || !cam.lidar2cam.defined())
      LESEG_FAIL(path, ": camera ", cam.name, " lacks its image, cam2img or lidar2cam line");
  if (c.cameras.empty()) LESEG_FAIL(path, ": no cameras");
  return c;
}

Tensor inverse4x4(const Tensor& m) {
  LESEG_CHECK(m.defined() && m.numel() == 16, "inverse4x4: expected a 4x4 matrix, got ", m.defined() ? m.shape().str() : "undefined");
  std::vector<double> a = m.to_vector<double>(), inv(16, 0.0);
  for (int i = 0; i < 4; ++i) inv[size_t(5 * i)] = 1.0;
  for (int c = 0; c < 4; ++c) {
    int piv = c;
    for (int r = c + 1; r < 4; ++r)
      if (std::abs(a[size_t(4 * r + c)]) > std::abs(a[size_t(4 * piv + c)])) piv = r;
    if (std::abs(a[size_t(4 * piv + c)]) < 1e-12) LESEG_FAIL("inverse4x4: singular matrix");
    for (int k = 0; k < 4; ++k) {
      std::swap(a[size_t(4 * c + k)], a[size_t(4 * piv + k)]);
      std::swap(inv[size_t(4 * c + k)], inv[size_t(4 * piv + k)]);
    }
    double d = a[size_t(5 * c)];
    for (int k = 0; k < 4; ++k) { a[size_t(4 * c + k)] /= d; inv[size_t(4 * c + k)] /= d; }
    for (int r = 0; r < 4; ++r) {
      if (r == c) continue;
      double f = a[size_t(4 * r + c)];
      for (int k = 0; k < 4; ++k) { a[size_t(4 * r + k)] -= f * a[size_t(4 * c + k)]; inv[size_t(4 * r + k)] -= f * inv[size_t(4 * c + k)]; }
    }
  }
  std::vector<float> out(inv.begin(), inv.end());
  return Tensor::from_vector(out, Shape{4, 4});
}

Scene read_nuscenes_sample(const std::string& dir, bool load_images, ReadReport* report) {
  std::string lidar;
  for (auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.find("LIDAR_TOP") != std::string::npos && n.size() > 8 && n.substr(n.size() - 8) == ".pcd.bin") {
      if (lidar.empty() || e.path().string() < lidar) lidar = e.path().string();
    }
  }
  if (lidar.empty()) LESEG_FAIL(dir, ": no *LIDAR_TOP*.pcd.bin sweep");
  Tensor raw = read_lidar_bin(lidar, 5);
  const int64_t n = raw.size(0);
  const float* r = raw.data<float>();
  std::vector<float> xyz, inten;
  xyz.reserve(size_t(3 * n));
  inten.reserve(size_t(n));
  ReadReport rep;
  rep.points_in_file = n;
  for (int64_t i = 0; i < n; ++i) {
    const float* p = r + 5 * i;
    if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]))) { ++rep.nan_dropped; continue; }
    xyz.insert(xyz.end(), {p[0], p[1], p[2]});
    inten.push_back(p[3]);
  }
  Scene s;
  s.name = fs::path(dir).filename().string();
  s.coords = Tensor::from_vector(xyz, Shape{int64_t(inten.size()), 3});
  s.intensity = Tensor::from_vector(inten, Shape{int64_t(inten.size())});
  NuScenesCalibration cal = read_nuscenes_calibration((fs::path(dir) / "calibration.txt").string());
  for (auto& cam : cal.cameras) {
    View v;
    v.name = cam.name;
    std::string img = (fs::path(dir) / cam.image_file).string();
    if (load_images) v.image = read_image_rgb(img);
    else if (!fs::exists(img)) LESEG_FAIL(dir, ": camera ", cam.name, " image ", cam.image_file, " missing");
    v.intrinsics = cam.cam2img;
    v.cam_to_world = inverse4x4(cam.lidar2cam);
    s.views.push_back(std::move(v));
  }
  if (report) *report = rep;
  return s;
}

Projection project_points(const Tensor& coords, const Tensor& K, const Tensor& cam_to_world, int height, int width,
                          float min_depth) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 3, "project_points: coords must be (N, 3)");
  LESEG_CHECK(K.defined() && K.numel() == 9, "project_points: intrinsics must be 3x3");
  LESEG_CHECK(height > 0 && width > 0, "project_points: image size ", height, "x", width);
  std::vector<double> w2c = inverse4x4(cam_to_world).to_vector<double>();
  std::vector<double> k = K.to_vector<double>();
  std::vector<float> p = coords.to_vector<float>();
  const int64_t n = coords.size(0);
  Projection pr;
  pr.u = Tensor::empty(Shape{n}, DType::f32);
  pr.v = Tensor::empty(Shape{n}, DType::f32);
  pr.depth = Tensor::empty(Shape{n}, DType::f32);
  pr.valid = Tensor::empty(Shape{n}, DType::b8);
  float *u = pr.u.data<float>(), *v = pr.v.data<float>(), *d = pr.depth.data<float>();
  bool* ok = pr.valid.data<bool>();
  for (int64_t i = 0; i < n; ++i) {
    double x = p[size_t(3 * i)], y = p[size_t(3 * i + 1)], z = p[size_t(3 * i + 2)];
    double X = w2c[0] * x + w2c[1] * y + w2c[2] * z + w2c[3];
    double Y = w2c[4] * x + w2c[5] * y + w2c[6] * z + w2c[7];
    double Z = w2c[8] * x + w2c[9] * y + w2c[10] * z + w2c[11];
    double uu = Z != 0 ? (k[0] * X + k[1] * Y) / Z + k[2] : -1;
    double vv = Z != 0 ? k[4] * Y / Z + k[5] : -1;
    u[i] = float(uu);
    v[i] = float(vv);
    d[i] = float(Z);
    ok[i] = Z > min_depth && uu >= 0 && uu <= width - 1 && vv >= 0 && vv <= height - 1;
    pr.count += ok[i];
  }
  return pr;
}

}  // namespace leseg::io
