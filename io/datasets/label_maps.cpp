// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/label_maps.h"

#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace leseg::io {

const std::vector<std::string>& scannet20_classes() {
  static const std::vector<std::string> c = {"wall", "floor", "cabinet", "bed", "chair", "sofa", "table",
                                             "door", "window", "bookshelf", "picture", "counter", "desk",
                                             "curtain", "refrigerator", "shower curtain", "toilet", "sink",
                                             "bathtub", "otherfurniture"};
  return c;
}

const std::vector<int>& scannet20_nyu40_ids() {
  static const std::vector<int> ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39};
  return ids;
}

int nyu40_to_scannet20(int id) {
  const auto& ids = scannet20_nyu40_ids();
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == id) return int(i);
  return -1;
}

std::map<std::string, int> read_scannet_label_tsv(const std::string& path) {
  std::ifstream f(path);
  if (!f) LESEG_FAIL(path, ": cannot open ScanNet label tsv");
  std::string line;
  if (!std::getline(f, line)) LESEG_FAIL(path, ": empty ScanNet label tsv");
  auto split = [](const std::string& s) {
    std::vector<std::string> r;
    std::string cur;
    std::istringstream is(s);
    while (std::getline(is, cur, '\t')) {
      if (!cur.empty() && cur.back() == '\r') cur.pop_back();
      r.push_back(cur);
    }
    return r;
  };
  std::vector<std::string> head = split(line);
  int c_raw = -1, c_nyu = -1;
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == "raw_category") c_raw = int(i);
    if (head[i] == "nyu40id") c_nyu = int(i);
  }
  if (c_raw < 0 || c_nyu < 0) LESEG_FAIL(path, ": header line 1 lacks 'raw_category' or 'nyu40id' columns");
  std::map<std::string, int> m;
  int line_no = 1;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    std::vector<std::string> t = split(line);
    if (int(t.size()) <= std::max(c_raw, c_nyu)) LESEG_FAIL(path, ": line ", line_no, " has ", t.size(), " columns");
    char* e = nullptr;
    long v = std::strtol(t[size_t(c_nyu)].c_str(), &e, 10);
    if (t[size_t(c_nyu)].empty() || *e) LESEG_FAIL(path, ": line ", line_no, ": nyu40id '", t[size_t(c_nyu)], "' is not an integer");
    m[t[size_t(c_raw)]] = int(v);
  }
  return m;
}

const std::vector<std::string>& semantickitti_classes() {
  static const std::vector<std::string> c = {"car", "bicycle", "motorcycle", "truck", "other-vehicle", "person",
                                             "bicyclist", "motorcyclist", "road", "parking", "sidewalk",
                                             "other-ground", "building", "fence", "vegetation", "trunk", "terrain",
                                             "pole", "traffic-sign"};
  return c;
}

const std::map<int, int>& semantickitti_learning_map() {
  static const std::map<int, int> m = {
      {0, 0},    {1, 0},    {10, 1},   {11, 2},   {13, 5},   {15, 3},   {16, 5},   {18, 4},   {20, 5},
      {30, 6},   {31, 7},   {32, 8},   {40, 9},   {44, 10},  {48, 11},  {49, 12},  {50, 13},  {51, 14},
      {52, 0},   {60, 9},   {70, 15},  {71, 16},  {72, 17},  {80, 18},  {81, 19},  {99, 0},   {252, 1},
      {253, 7},  {254, 6},  {255, 8},  {256, 5},  {257, 5},  {258, 4},  {259, 5}};
  return m;
}

std::map<int, int> read_learning_map_yaml(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    LESEG_FAIL(path, ": cannot parse yaml: ", e.what());
  }
  YAML::Node lm = root["learning_map"];
  if (!lm || !lm.IsMap()) LESEG_FAIL(path, ": no 'learning_map' mapping");
  std::map<int, int> m;
  for (auto it = lm.begin(); it != lm.end(); ++it) {
    try {
      m[it->first.as<int>()] = it->second.as<int>();
    } catch (const std::exception& e) {
      LESEG_FAIL(path, ": learning_map entry at line ", it->first.Mark().line + 1, " is not 'int: int' (", e.what(), ")");
    }
  }
  return m;
}

const std::vector<std::string>& nuscenes16_classes() {
  static const std::vector<std::string> c = {"barrier", "bicycle", "bus", "car", "construction_vehicle", "motorcycle",
                                             "pedestrian", "traffic_cone", "trailer", "truck", "driveable_surface",
                                             "other_flat", "sidewalk", "terrain", "manmade", "vegetation"};
  return c;
}

int nuscenes_lidarseg_to16(int raw) {
  static const std::map<int, int> m = {{2, 7},   {3, 7},   {4, 7},   {6, 7},   {9, 1},   {12, 8},  {14, 2},
                                       {15, 3},  {16, 3},  {17, 4},  {18, 5},  {21, 6},  {22, 9},  {23, 10},
                                       {24, 11}, {25, 12}, {26, 13}, {27, 14}, {28, 15}, {30, 16}};
  auto it = m.find(raw);
  return it == m.end() ? -1 : it->second - 1;
}

const std::vector<std::string>& s3dis_classes() {
  static const std::vector<std::string> c = {"ceiling", "floor", "wall", "beam", "column", "window", "door",
                                             "chair", "table", "bookcase", "sofa", "board", "clutter"};
  return c;
}

int s3dis_class_index(const std::string& name) {
  const auto& c = s3dis_classes();
  for (size_t i = 0; i < c.size(); ++i)
    if (c[i] == name) return int(i);
  return 12;
}

Tensor map_labels(const std::vector<int64_t>& raw, const std::map<int, int>& lm, int64_t* unknown) {
  Tensor t = Tensor::empty(Shape{int64_t(raw.size())}, DType::i32);
  int32_t* d = t.data<int32_t>();
  int64_t unk = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    auto it = raw[i] >= INT32_MIN && raw[i] <= INT32_MAX ? lm.find(int(raw[i])) : lm.end();
    if (it == lm.end()) {
      ++unk;
      d[i] = -1;
    } else {
      d[i] = it->second - 1;
    }
  }
  if (unknown) *unknown = unk;
  return t;
}

}  // namespace leseg::io
