// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/nuscenes_sweeps.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace fs = std::filesystem;

namespace leseg::io {

namespace {

using M4 = std::vector<double>;

M4 mul(const M4& a, const M4& b) {
  M4 c(16, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 4; ++k) c[size_t(4 * i + j)] += a[size_t(4 * i + k)] * b[size_t(4 * k + j)];
  return c;
}

// Inverse of a rigid transform [R | t; 0 0 0 1]: [Rᵀ | −Rᵀ t] (poses are rigid; checked loosely).
M4 rigid_inverse(const M4& m, const std::string& what) {
  if (std::abs(m[12]) > 1e-6 || std::abs(m[13]) > 1e-6 || std::abs(m[14]) > 1e-6 || std::abs(m[15] - 1) > 1e-6)
    LESEG_FAIL(what, ": bottom row is not (0 0 0 1)");
  M4 r(16, 0.0);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r[size_t(4 * i + j)] = m[size_t(4 * j + i)];
  for (int i = 0; i < 3; ++i)
    r[size_t(4 * i + 3)] = -(r[size_t(4 * i)] * m[3] + r[size_t(4 * i + 1)] * m[7] + r[size_t(4 * i + 2)] * m[11]);
  r[15] = 1.0;
  return r;
}

M4 to_m4(const Tensor& t, const std::string& what) {
  if (!t.defined()) LESEG_FAIL(what, " missing (needed for multi-sweep aggregation)");
  return t.to_vector<double>();
}

}  // namespace

std::vector<double> sweep_to_keyframe(const M4& l2e_k, const M4& e2g_k, const M4& l2e_s, const M4& e2g_s) {
  return mul(mul(rigid_inverse(l2e_k, "keyframe lidar2ego"), rigid_inverse(e2g_k, "keyframe ego2global")), mul(e2g_s, l2e_s));
}

NuScenesSweepList read_nuscenes_sweeps(const std::string& path) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open sweeps file");
  NuScenesSweepList out;
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    std::istringstream is(line);
    std::string a;
    is >> a;
    if (a == "keyframe_timestamp") {
      if (!(is >> out.keyframe_timestamp_us)) LESEG_FAIL(path, ": line ", line_no, ": keyframe_timestamp needs an integer (microseconds)");
      continue;
    }
    NuScenesSweep s;
    s.file = a;
    if (!(is >> s.timestamp_us)) LESEG_FAIL(path, ": line ", line_no, ": '", a, "' must be followed by its timestamp (us)");
    for (auto* which : {&s.lidar2ego, &s.ego2global}) {
      const char* name = which == &s.lidar2ego ? "lidar2ego" : "ego2global";
      std::string key;
      if (!(is >> key) || key != name) LESEG_FAIL(path, ": line ", line_no, ": expected '", name, "' then 16 values");
      for (int i = 0; i < 16; ++i) {
        std::string tok;
        if (!(is >> tok)) LESEG_FAIL(path, ": line ", line_no, " (", name, "): ", i, " values, expected 16");
        char* e = nullptr;
        double x = std::strtod(tok.c_str(), &e);
        if (*e || !std::isfinite(x)) LESEG_FAIL(path, ": line ", line_no, " (", name, "): '", tok, "' is not a finite number");
        which->push_back(x);
      }
    }
    std::string extra;
    if (is >> extra) LESEG_FAIL(path, ": line ", line_no, ": unexpected '", extra, "' after ego2global's 16 values");
    out.sweeps.push_back(std::move(s));
  }
  return out;
}

void write_nuscenes_sweeps(const std::string& path, const NuScenesSweepList& list) {
  std::ofstream o(path);
  if (!o) LESEG_FAIL(path, ": cannot create sweeps file");
  o << "# previous LiDAR sweeps, newest first: file timestamp_us lidar2ego <16> ego2global <16> (row-major)\n";
  if (list.keyframe_timestamp_us >= 0) o << "keyframe_timestamp " << list.keyframe_timestamp_us << "\n";
  o << std::setprecision(17);
  for (auto& s : list.sweeps) {
    o << s.file << " " << s.timestamp_us << " lidar2ego";
    for (double x : s.lidar2ego) o << " " << x;
    o << " ego2global";
    for (double x : s.ego2global) o << " " << x;
    o << "\n";
  }
}

Scene read_nuscenes_multisweep(const std::string& dir, int num_sweeps, bool load_images, float remove_close,
                               ReadReport* report, SweepReport* sweeps_report) {
  LESEG_CHECK(num_sweeps >= 0, "read_nuscenes_multisweep: num_sweeps must be >= 0, got ", num_sweeps);
  Scene s = read_nuscenes_sample(dir, load_images, report);
  const int64_t nk = s.num_points();
  SweepReport rep;
  std::vector<float> xyz = s.coords.to_vector<float>(), inten = s.intensity.to_vector<float>(), times(size_t(nk), 0.0f);
  fs::path sw = fs::path(dir) / "sweeps.txt";
  if (num_sweeps > 0) {
    if (!fs::exists(sw)) LESEG_FAIL(dir, ": ", num_sweeps, " sweeps asked for but there is no sweeps.txt (see io/datasets/nuscenes_sweeps.h)");
    NuScenesSweepList list = read_nuscenes_sweeps(sw.string());
    rep.sweeps_listed = int64_t(list.sweeps.size());
    NuScenesCalibration cal = read_nuscenes_calibration((fs::path(dir) / "calibration.txt").string());
    const M4 l2e_k = to_m4(cal.lidar2ego, dir + "/calibration.txt lidar2ego");
    const M4 e2g_k = to_m4(cal.ego2global, dir + "/calibration.txt ego2global");
    int64_t t_key = list.keyframe_timestamp_us;
    if (t_key < 0) {
      std::string key;
      for (auto& e : fs::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if (n.find("LIDAR_TOP") != std::string::npos && n.size() > 8 && n.substr(n.size() - 8) == ".pcd.bin" && (key.empty() || n < key)) key = n;
      }
      std::string stem = key.substr(0, key.size() - 8);
      size_t us = stem.find_last_of('_');
      char* e = nullptr;
      if (us != std::string::npos) t_key = std::strtoll(stem.c_str() + us + 1, &e, 10);
      if (us == std::string::npos || !e || *e || t_key <= 0)
        LESEG_FAIL(sw.string(), ": no keyframe_timestamp line and the keyframe file '", key, "' does not end in __<timestamp>.pcd.bin");
    }
    for (size_t k = 0; k < list.sweeps.size() && int(k) < num_sweeps; ++k) {
      const NuScenesSweep& sp = list.sweeps[k];
      const std::string path = (fs::path(dir) / sp.file).string();
      Tensor raw = read_lidar_bin(path, 5);
      const M4 T = sweep_to_keyframe(l2e_k, e2g_k, sp.lidar2ego, sp.ego2global);
      const float dt = float(double(t_key - sp.timestamp_us) * 1e-6);
      if (dt < 0) LESEG_FAIL(sw.string(), ": sweep ", sp.file, " (", sp.timestamp_us, " us) is later than the keyframe (", t_key, " us)");
      const float* r = raw.data<float>();
      for (int64_t i = 0; i < raw.size(0); ++i) {
        const float* p = r + 5 * i;
        if (!(std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]))) continue;
        if (std::abs(p[0]) < remove_close && std::abs(p[1]) < remove_close) { ++rep.close_removed; continue; }
        const double x = p[0], y = p[1], z = p[2];
        xyz.push_back(float(T[0] * x + T[1] * y + T[2] * z + T[3]));
        xyz.push_back(float(T[4] * x + T[5] * y + T[6] * z + T[7]));
        xyz.push_back(float(T[8] * x + T[9] * y + T[10] * z + T[11]));
        inten.push_back(p[3]);
        times.push_back(dt);
        ++rep.points_added;
      }
      ++rep.sweeps_used;
    }
  }
  const int64_t n = int64_t(times.size());
  s.coords = Tensor::from_vector(xyz, Shape{n, 3});
  s.intensity = Tensor::from_vector(inten, Shape{n});
  s.times = Tensor::from_vector(times, Shape{n});
  if (sweeps_report) *sweeps_report = rep;
  return s;
}

}  // namespace leseg::io
