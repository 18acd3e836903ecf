// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/scannet.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "io/datasets/label_maps.h"
#include "io/datasets/scene_io.h"
#include "io/formats/file_io.h"
#include "io/formats/image.h"

namespace fs = std::filesystem;

namespace leseg::io {

namespace {

nlohmann::json load_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file_text(path));
  } catch (const nlohmann::json::exception& e) {
    LESEG_FAIL(path, ": invalid JSON: ", e.what());
  }
}

std::string find_first(const fs::path& dir, const std::vector<std::string>& names) {
  for (auto& n : names)
    if (fs::exists(dir / n)) return (dir / n).string();
  return "";
}

}  // namespace

Scene read_scannet_scan(const std::string& scene_dir, const std::string& label_tsv, ScanNetReport* report) {
  fs::path d(scene_dir);
  if (!fs::is_directory(d)) LESEG_FAIL(scene_dir, ": ScanNet scene folder does not exist");
  std::string name = d.filename().string();
  if (name.empty()) name = d.parent_path().filename().string();
  std::string mesh = (d / (name + "_vh_clean_2.ply")).string();
  if (!fs::exists(mesh)) LESEG_FAIL(scene_dir, ": missing ", name, "_vh_clean_2.ply");
  ScanNetReport rep;
  PlyData ply = read_ply(mesh);
  const int64_t n = ply.num_vertices;
  // Keep every vertex (indices must line up with labels and segs); non-finite vertices are an error here.
  for (const char* c : {"x", "y", "z"})
    for (double v : ply.get(c))
      if (!std::isfinite(v)) LESEG_FAIL(mesh, ": non-finite vertex coordinate (ScanNet meshes must be finite)");
  Scene s = ply_to_scene(ply, &rep.points);
  s.name = name;
  s.labels = Tensor();  // the mesh has no labels; set below
  s.instances = Tensor();
  std::vector<int32_t> labels(size_t(n), -1), instances(size_t(n), -1);
  bool have_labels = false;

  std::string lab_ply = (d / (name + "_vh_clean_2.labels.ply")).string();
  if (fs::exists(lab_ply)) {
    PlyData lp = read_ply(lab_ply);
    if (lp.num_vertices != n) LESEG_FAIL(lab_ply, ": ", lp.num_vertices, " vertices, mesh has ", n);
    const auto& l = lp.get("label");
    for (int64_t i = 0; i < n; ++i) labels[size_t(i)] = nyu40_to_scannet20(int(l[size_t(i)]));
    have_labels = true;
  }

  std::string segs = find_first(d, {name + "_vh_clean_2.0.010000.segs.json", name + "_vh_clean_2.segs.json"});
  std::string agg = find_first(d, {name + ".aggregation.json", name + "_vh_clean.aggregation.json"});
  std::vector<int64_t> seg_idx;
  if (!segs.empty()) {
    nlohmann::json j = load_json(segs);
    if (!j.contains("segIndices") || !j["segIndices"].is_array()) LESEG_FAIL(segs, ": no 'segIndices' array");
    const auto& a = j["segIndices"];
    if (int64_t(a.size()) != n) LESEG_FAIL(segs, ": segIndices has ", a.size(), " entries, mesh has ", n, " vertices");
    seg_idx.resize(size_t(n));
    std::map<int64_t, int32_t> compact;
    std::vector<int32_t> segments(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (!a[size_t(i)].is_number_integer()) LESEG_FAIL(segs, ": segIndices[", i, "] is not an integer");
      seg_idx[size_t(i)] = a[size_t(i)].get<int64_t>();
      auto it = compact.emplace(seg_idx[size_t(i)], int32_t(compact.size())).first;
      segments[size_t(i)] = it->second;
    }
    s.segments = Tensor::from_vector(segments, Shape{n});
  }
  if (!agg.empty()) {
    if (seg_idx.empty()) LESEG_FAIL(scene_dir, ": ", agg, " needs the segs.json over-segmentation");
    nlohmann::json j = load_json(agg);
    if (!j.contains("segGroups") || !j["segGroups"].is_array()) LESEG_FAIL(agg, ": no 'segGroups' array");
    std::map<std::string, int> tsv;
    if (!have_labels) {
      if (label_tsv.empty()) LESEG_FAIL(scene_dir, ": no labels PLY; the label tsv (scannetv2-labels.combined.tsv) is required to map aggregation labels");
      tsv = read_scannet_label_tsv(label_tsv);
    }
    std::map<int64_t, std::vector<int64_t>> seg_to_vertices;
    for (int64_t i = 0; i < n; ++i) seg_to_vertices[seg_idx[size_t(i)]].push_back(i);
    const auto& groups = j["segGroups"];
    for (size_t g = 0; g < groups.size(); ++g) {
      const auto& grp = groups[g];
      if (!grp.contains("segments") || !grp["segments"].is_array()) LESEG_FAIL(agg, ": segGroups[", g, "] has no 'segments' array");
      int cls = -1;
      if (!have_labels) {
        std::string lab = grp.value("label", std::string());
        auto it = tsv.find(lab);
        cls = it == tsv.end() ? -1 : nyu40_to_scannet20(it->second);
      }
      for (const auto& sg : grp["segments"]) {
        if (!sg.is_number_integer()) LESEG_FAIL(agg, ": segGroups[", g, "].segments has a non-integer entry");
        auto it = seg_to_vertices.find(sg.get<int64_t>());
        if (it == seg_to_vertices.end()) continue;  // segment id absent from this mesh: nothing to label
        for (int64_t v : it->second) {
          instances[size_t(v)] = int32_t(g);
          if (!have_labels) labels[size_t(v)] = cls;
        }
      }
    }
    s.instances = Tensor::from_vector(instances, Shape{n});
    have_labels = true;
  }
  if (have_labels) {
    s.labels = Tensor::from_vector(labels, Shape{n});
    rep.unlabeled = std::count(labels.begin(), labels.end(), -1);
  }
  if (report) *report = rep;
  return s;
}

std::vector<View> read_scannet_frames(const std::string& frames_dir, const ScanNetFrameOptions& opt, ScanNetReport* report) {
  fs::path d(frames_dir);
  for (const char* sub : {"pose", "intrinsic"})
    if (!fs::is_directory(d / sub)) LESEG_FAIL(frames_dir, ": missing ", sub, "/ folder (exported ScanNet frames)");
  LESEG_CHECK(opt.stride >= 1, "read_scannet_frames: stride must be >= 1");
  std::string kpath = find_first(d / "intrinsic", {"intrinsic_depth.txt", "intrinsic_color.txt"});
  if (kpath.empty()) LESEG_FAIL(frames_dir, ": intrinsic/ has neither intrinsic_depth.txt nor intrinsic_color.txt");
  std::vector<float> k4 = read_matrix_txt(kpath, 4, 4).to_vector<float>();
  Tensor K = Tensor::from_vector<float>({k4[0], k4[1], k4[2], k4[4], k4[5], k4[6], k4[8], k4[9], k4[10]}, Shape{3, 3});
  // Frames are numbered by their file stems, zero-padded ("00000.txt", as some exporters write) or not
  // ("0.txt", the ScanNet SensReader): the stem found in pose/ is kept and the colour / depth files are looked
  // up under that stem first, then under the unpadded number.
  std::vector<std::pair<int64_t, std::string>> ids;  // (frame number, stem as found)
  for (auto& e : fs::directory_iterator(d / "pose")) {
    std::string st = e.path().stem().string();
    if (e.path().extension() == ".txt" && !st.empty() && st.size() <= 18 && std::all_of(st.begin(), st.end(), ::isdigit))
      ids.emplace_back(std::stoll(st), st);
  }
  std::sort(ids.begin(), ids.end());
  for (size_t k = 1; k < ids.size(); ++k)
    if (ids[k].first == ids[k - 1].first)
      LESEG_FAIL(frames_dir, ": pose/", ids[k - 1].second, ".txt and pose/", ids[k].second, ".txt name the same frame ", ids[k].first);
  std::vector<View> views;
  int64_t bad = 0;
  for (size_t k = 0; k < ids.size(); k += size_t(opt.stride)) {
    if (opt.max_frames >= 0 && int(views.size()) >= opt.max_frames) break;
    const std::string id = std::to_string(ids[k].first), stem = ids[k].second;
    Tensor pose = read_matrix_txt((d / "pose" / (stem + ".txt")).string(), 4, 4);
    std::vector<float> pv = pose.to_vector<float>();
    if (!std::all_of(pv.begin(), pv.end(), [](float x) { return std::isfinite(x); })) { ++bad; continue; }
    View v;
    v.name = id;
    v.cam_to_world = pose;
    v.intrinsics = K;
    std::string dp = find_first(d / "depth", {stem + ".png", id + ".png"});
    if (!dp.empty()) {
      Tensor mm = read_image_u16(dp);
      v.depth = Tensor::empty(mm.shape(), DType::f32);
      const int32_t* s = mm.data<int32_t>();
      float* o = v.depth.data<float>();
      for (int64_t i = 0; i < mm.numel(); ++i) o[i] = float(s[i]) / 1000.f;
    }
    std::string cp = find_first(d / "color", {stem + ".jpg", stem + ".png", id + ".jpg", id + ".png"});
    if (opt.load_color && !cp.empty()) {
      Tensor img = read_image_rgb(cp);
      if (v.depth.defined() && (img.size(0) != v.depth.size(0) || img.size(1) != v.depth.size(1))) {
        const int64_t H = v.depth.size(0), W = v.depth.size(1), h = img.size(0), w = img.size(1);
        Tensor r = Tensor::empty(Shape{H, W, 3}, DType::u8);
        const uint8_t* src = img.data<uint8_t>();
        uint8_t* dst = r.data<uint8_t>();
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            int64_t sy = std::min(h - 1, (2 * y + 1) * h / (2 * H)), sx = std::min(w - 1, (2 * x + 1) * w / (2 * W));
            for (int c = 0; c < 3; ++c) dst[(y * W + x) * 3 + c] = src[(sy * w + sx) * 3 + c];
          }
        img = r;
      }
      v.image = img;
    }
    views.push_back(std::move(v));
  }
  if (report) report->frames_bad_pose += bad;
  return views;
}

}  // namespace leseg::io
