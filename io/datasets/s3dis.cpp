// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/s3dis.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "io/datasets/label_maps.h"
#include "io/formats/file_io.h"

namespace fs = std::filesystem;

namespace leseg::io {

Scene read_s3dis_room(const std::string& room_dir, ReadReport* report) {
  fs::path ann = fs::path(room_dir) / "Annotations";
  if (!fs::is_directory(ann)) LESEG_FAIL(room_dir, ": no Annotations/ folder (S3DIS room expected)");
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(ann))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) LESEG_FAIL(ann.string(), ": no annotation .txt files");
  std::vector<float> xyz;
  std::vector<uint8_t> rgb;
  std::vector<int32_t> lab, ins;
  ReadReport rep;
  for (size_t f = 0; f < files.size(); ++f) {
    std::string stem = files[f].stem().string();
    size_t us = stem.rfind('_');
    int cls = s3dis_class_index(us == std::string::npos ? stem : stem.substr(0, us));
    std::string text = read_file_text(files[f].string());
    const char* p = text.c_str();
    const char* end = p + text.size();
    int64_t line = 0;
    while (p < end) {
      const char* eol = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
      if (!eol) eol = end;
      ++line;
      std::string ln(p, size_t(eol - p));
      p = eol + 1;
      if (ln.find_first_not_of(" \t\r") == std::string::npos) continue;
      double v[6];
      const char* q = ln.c_str();
      int k = 0;
      for (; k < 6; ++k) {
        char* e = nullptr;
        v[k] = std::strtod(q, &e);
        if (e == q) break;
        q = e;
      }
      if (k < 6) LESEG_FAIL(files[f].string(), ": line ", line, " has ", k, " numbers, expected 6 (x y z r g b): '", ln.substr(0, 80), "'");
      ++rep.points_in_file;
      if (!(std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2]))) { ++rep.nan_dropped; continue; }
      xyz.insert(xyz.end(), {float(v[0]), float(v[1]), float(v[2])});
      for (int c = 3; c < 6; ++c) rgb.push_back(uint8_t(std::clamp(std::isfinite(v[c]) ? std::lround(v[c]) : 0L, 0L, 255L)));
      lab.push_back(cls);
      ins.push_back(int32_t(f));
    }
  }
  const int64_t n = int64_t(lab.size());
  Scene s;
  s.name = fs::path(room_dir).filename().string();
  s.coords = Tensor::from_vector(xyz, Shape{n, 3});
  s.colors = Tensor::from_vector(rgb, Shape{n, 3});
  s.labels = Tensor::from_vector(lab, Shape{n});
  s.instances = Tensor::from_vector(ins, Shape{n});
  if (report) *report = rep;
  return s;
}

std::vector<std::string> list_s3dis_rooms(const std::string& area_dir) {
  if (!fs::is_directory(area_dir)) LESEG_FAIL(area_dir, ": S3DIS area folder does not exist");
  std::vector<std::string> r;
  for (auto& e : fs::directory_iterator(area_dir))
    if (e.is_directory() && fs::is_directory(e.path() / "Annotations")) r.push_back(e.path().filename().string());
  std::sort(r.begin(), r.end());
  return r;
}

}  // namespace leseg::io
