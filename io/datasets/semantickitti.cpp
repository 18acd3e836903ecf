// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/semantickitti.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/datasets/label_maps.h"
#include "io/formats/file_io.h"

namespace fs = std::filesystem;

namespace leseg::io {

void read_kitti_label_file(const std::string& path, int64_t expected, std::vector<int64_t>* semantic,
                           std::vector<int64_t>* instance) {
  std::vector<uint8_t> b = read_file_bytes(path);
  if (b.size() % 4) LESEG_FAIL(path, ": size ", b.size(), " is not a multiple of 4 bytes (uint32 labels)");
  int64_t n = int64_t(b.size() / 4);
  if (expected >= 0 && n != expected) LESEG_FAIL(path, ": ", n, " labels for ", expected, " points");
  if (semantic) semantic->resize(size_t(n));
  if (instance) instance->resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t v;
    std::memcpy(&v, b.data() + 4 * i, 4);
    if (semantic) (*semantic)[size_t(i)] = v & 0xFFFF;
    if (instance) (*instance)[size_t(i)] = v >> 16;
  }
}

Scene read_semantickitti_scan(const std::string& bin_path, const std::string& label_path,
                              const std::map<int, int>& learning_map, KittiReport* report) {
  std::vector<uint8_t> b = read_file_bytes(bin_path);
  if (b.size() % 16) LESEG_FAIL(bin_path, ": size ", b.size(), " is not a multiple of 16 bytes (float32 x y z remission)");
  const int64_t n = int64_t(b.size() / 16);
  std::vector<float> raw(size_t(n) * 4);
  if (n) std::memcpy(raw.data(), b.data(), b.size());
  std::vector<int64_t> keep;
  keep.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(raw[size_t(4 * i)]) && std::isfinite(raw[size_t(4 * i + 1)]) && std::isfinite(raw[size_t(4 * i + 2)])) keep.push_back(i);
  const int64_t m = int64_t(keep.size());
  KittiReport rep;
  rep.points.points_in_file = n;
  rep.points.nan_dropped = n - m;
  Scene s;
  s.name = fs::path(bin_path).stem().string();
  s.coords = Tensor::empty(Shape{m, 3}, DType::f32);
  s.intensity = Tensor::empty(Shape{m}, DType::f32);
  float* c = s.coords.data<float>();
  float* it = s.intensity.data<float>();
  for (int64_t j = 0; j < m; ++j) {
    size_t i = size_t(keep[size_t(j)]);
    for (int k = 0; k < 3; ++k) c[3 * j + k] = raw[4 * i + size_t(k)];
    it[j] = raw[4 * i + 3];
  }
  if (!label_path.empty()) {
    std::vector<int64_t> sem, ins;
    try {
      read_kitti_label_file(label_path, n, &sem, &ins);
    } catch (const Error& e) {
      LESEG_FAIL(e.what(), " (scan ", bin_path, ": ", n, " points)");  // either file may be the damaged one
    }
    std::vector<int64_t> sem_kept(static_cast<size_t>(m));
    std::vector<int32_t> ins_kept(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) {
      sem_kept[size_t(j)] = sem[size_t(keep[size_t(j)])];
      ins_kept[size_t(j)] = ins[size_t(keep[size_t(j)])] == 0 ? -1 : int32_t(ins[size_t(keep[size_t(j)])]);
    }
    s.labels = map_labels(sem_kept, learning_map.empty() ? semantickitti_learning_map() : learning_map, &rep.unknown_raw_labels);
    rep.points.labels_out_of_range = rep.unknown_raw_labels;
    s.instances = Tensor::from_vector(ins_kept, Shape{m});
  }
  if (report) *report = rep;
  return s;
}

Tensor KittiCalib::velo_to_cam() const {
  auto it = matrices.find("Tr");
  if (it == matrices.end()) LESEG_FAIL("KITTI calib: no 'Tr' (velodyne -> camera) entry");
  std::vector<float> v = it->second.to_vector<float>();
  v.insert(v.end(), {0, 0, 0, 1});
  return Tensor::from_vector(v, Shape{4, 4});
}

KittiCalib read_kitti_calib(const std::string& path) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open KITTI calib file");
  KittiCalib c;
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    size_t colon = line.find(':');
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (colon == std::string::npos) LESEG_FAIL(path, ": line ", line_no, " has no 'NAME:'");
    std::string name = line.substr(0, colon);
    std::istringstream is(line.substr(colon + 1));
    std::vector<float> v;
    std::string tok;
    while (is >> tok) {
      char* e = nullptr;
      double x = std::strtod(tok.c_str(), &e);
      if (*e) LESEG_FAIL(path, ": line ", line_no, ": '", tok, "' is not a number");
      v.push_back(float(x));
    }
    if (v.size() != 12) LESEG_FAIL(path, ": line ", line_no, " (", name, ") has ", v.size(), " values, expected 12 (3x4)");
    c.matrices[name] = Tensor::from_vector(v, Shape{3, 4});
  }
  return c;
}

Tensor read_kitti_poses(const std::string& path) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open KITTI poses file");
  std::vector<float> all;
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    std::istringstream is(line);
    std::vector<float> v;
    std::string tok;
    while (is >> tok) {
      char* e = nullptr;
      double x = std::strtod(tok.c_str(), &e);
      if (*e) LESEG_FAIL(path, ": line ", line_no, ": '", tok, "' is not a number");
      v.push_back(float(x));
    }
    if (v.empty()) continue;
    if (v.size() != 12) LESEG_FAIL(path, ": line ", line_no, " has ", v.size(), " values, expected 12 (3x4 pose)");
    all.insert(all.end(), v.begin(), v.end());
    all.insert(all.end(), {0, 0, 0, 1});
  }
  return Tensor::from_vector(all, Shape{int64_t(all.size() / 16), 4, 4});
}

std::vector<std::string> list_kitti_scans(const std::string& seq) {
  fs::path v = fs::path(seq) / "velodyne";
  if (!fs::is_directory(v)) LESEG_FAIL(seq, ": no velodyne/ folder");
  std::vector<std::string> r;
  for (auto& e : fs::directory_iterator(v))
    if (e.path().extension() == ".bin") r.push_back(e.path().stem().string());
  std::sort(r.begin(), r.end());
  return r;
}

}  // namespace leseg::io
