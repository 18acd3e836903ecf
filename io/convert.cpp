// SPDX-License-Identifier: Apache-2.0
#include "io/convert.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <fstream>
#include <sstream>

#include "io/check.h"
#include "io/datasets/label_maps.h"
#include "io/datasets/mosd.h"
#include "io/datasets/kitti.h"
#include "io/datasets/nuscenes.h"
#include "io/datasets/nuscenes_sweeps.h"
#include "io/datasets/pointcept.h"
#include "io/datasets/s3dis.h"
#include "io/datasets/scannet.h"
#include "io/datasets/scannet_sens.h"
#include "io/datasets/scene_io.h"
#include "io/datasets/semantickitti.h"
#include "io/formats/npy.h"
#include "io/formats/point_cloud.h"

namespace fs = std::filesystem;

namespace leseg::io {

std::string ConvertResult::str() const {
  std::ostringstream os;
  os << "converted " << scenes << " scenes, " << points << " points, " << views << " views";
  for (auto& n : notes) os << "\n  " << n;
  return os.str();
}

namespace {

struct Writer {
  std::string dst;
  const ConvertOptions& opt;
  ConvertResult res;
  std::map<std::string, std::vector<std::string>> splits;
  std::vector<std::string> order;  // every scene, in conversion order
  int num_classes = -1;            // when known: labels are checked before a scene is written
  int max_label = -1;
  bool full() const { return opt.max_scenes >= 0 && res.scenes >= opt.max_scenes; }
  void add(const Scene& s, const std::string& split = "train", const std::string& source = "") {
    LESEG_CHECK(!s.name.empty(), "convert: scene without a name");
    if (s.labels.defined()) {
      const std::vector<int32_t> l = s.labels.to(DType::i32).to_vector<int32_t>();
      for (size_t i = 0; i < l.size(); ++i) {
        LESEG_CHECK(l[i] >= -1 && (num_classes < 0 || l[i] < num_classes), "convert: scene '", s.name, "'",
                    source.empty() ? "" : " (" + source + ")", " field 'label': value ", l[i], " at point ", i,
                    " is outside [-1, ", num_classes < 0 ? std::string("inf") : std::to_string(num_classes), ")",
                    num_classes < 0 ? "" : " (the dataset's classes; --classes FILE / --num-classes N set them)",
                    "; nothing of this scene was written");
        max_label = std::max(max_label, l[i]);
      }
    }
    write_scene((fs::path(dst) / "scenes" / s.name).string(), s);
    splits[split].push_back(s.name);
    order.push_back(s.name);
    ++res.scenes;
    res.points += s.num_points();
    res.views += int64_t(s.views.size());
  }
  void note(const std::string& scene, const ReadReport& r) {
    if (r.nan_dropped || r.nan_kept_invalid || r.labels_out_of_range)
      res.notes.push_back(scene + ": " + r.str());
  }
  // The format's class list, or the one given on the command line (checked against it).
  void set_classes(DatasetInfo& info, const std::string& format, bool free_labels) {
    const size_t own = info.classes.size();
    if (!opt.class_names.empty()) {
      LESEG_CHECK(opt.num_classes < 0 || size_t(opt.num_classes) == opt.class_names.size(), "convert: --num-classes ",
                  opt.num_classes, " disagrees with the ", opt.class_names.size(), " names of --classes");
      LESEG_CHECK(free_labels || own == opt.class_names.size(), "convert: --classes lists ", opt.class_names.size(),
                  " names, but format '", format, "' maps its labels to ", own, " classes");
      info.classes = opt.class_names;
    } else if (opt.num_classes >= 0) {
      LESEG_CHECK(opt.num_classes >= 1, "convert: --num-classes ", opt.num_classes, " must be >= 1");
      LESEG_CHECK(free_labels || own == size_t(opt.num_classes), "convert: --num-classes ", opt.num_classes,
                  " disagrees with the ", own, " classes format '", format, "' maps its labels to");
      if (free_labels) {
        info.classes.clear();
        for (int c = 0; c < opt.num_classes; ++c) info.classes.push_back("class_" + std::to_string(c));
      }
    }
    num_classes = info.classes.empty() ? -1 : int(info.classes.size());
  }
  void finish(const DatasetInfo& info) {
    write_dataset_info(dst, info);
    if (!opt.val_scenes.empty() || opt.val_fraction >= 0) {
      LESEG_CHECK(opt.val_scenes.empty() || opt.val_fraction < 0, "convert: give --val or --val-fraction, not both");
      std::set<std::string> val;
      if (!opt.val_scenes.empty()) {
        std::set<std::string> have(order.begin(), order.end());
        for (auto& n : opt.val_scenes) {
          LESEG_CHECK(have.count(n), "convert: --val names scene '", n, "', which is not among the ", order.size(),
                      " converted scenes", order.empty() ? std::string() : " (e.g. '" + order.front() + "')");
          val.insert(n);
        }
      } else {
        LESEG_CHECK(opt.val_fraction > 0 && opt.val_fraction < 1, "convert: --val-fraction ", opt.val_fraction,
                    " must lie in (0, 1)");
        LESEG_CHECK(order.size() >= 2, "convert: --val-fraction needs at least 2 scenes, ", order.size(), " converted");
        std::vector<std::string> sorted = order;
        std::sort(sorted.begin(), sorted.end());
        const size_t n = sorted.size();
        const size_t m = std::clamp<size_t>(size_t(std::llround(opt.val_fraction * double(n))), 1, n - 1);
        for (size_t i = 0; i < m; ++i) val.insert(sorted[std::min(n - 1, size_t((double(i) + 0.5) * double(n) / double(m)))]);
      }
      std::vector<std::string> tr, va;
      for (auto& n : order) (val.count(n) ? va : tr).push_back(n);
      for (auto& [k, v] : splits)
        if (k != "train" && k != "val") res.notes.push_back("source split '" + k + "' not written (--val / --val-fraction re-split every scene)");
      splits.clear();
      splits["train"] = tr;
      splits["val"] = va;
      res.notes.push_back("split: " + std::to_string(tr.size()) + " train / " + std::to_string(va.size()) + " val scenes");
    }
    for (auto& [k, v] : splits) write_split(dst, k, v);
    res.notes.push_back("no text_embeddings.npy written (leseg has no text encoder): fine for supervised training; the "
                        "label-free regimes need one (" + dst + "/text_embeddings.npy, (C, D) f4)");
  }
};

std::string find_up(const fs::path& start, const std::string& file, int levels) {
  fs::path p = fs::absolute(start);
  for (int i = 0; i <= levels; ++i) {
    if (fs::exists(p / file)) return (p / file).string();
    if (!p.has_parent_path() || p.parent_path() == p) break;
    p = p.parent_path();
  }
  return "";
}

bool is_scannet_scan(const fs::path& p) {
  return fs::exists(p / (p.filename().string() + "_vh_clean_2.ply"));
}

}  // namespace

std::vector<std::string> read_class_names(const std::string& path) {
  std::ifstream f(path);
  LESEG_CHECK(f.good(), "--classes: cannot open '", path, "'");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    names.push_back(line.substr(b));
  }
  LESEG_CHECK(!names.empty(), "--classes: '", path, "' lists no class name");
  std::set<std::string> seen;
  for (size_t i = 0; i < names.size(); ++i)
    LESEG_CHECK(seen.insert(names[i]).second, "--classes: '", path, "' lists '", names[i], "' twice (line of class ", i, ")");
  return names;
}

std::vector<std::string> parse_scene_list(const std::string& arg) {
  std::vector<std::string> out;
  if (fs::is_regular_file(arg)) {
    std::ifstream f(arg);
    std::string line;
    while (std::getline(f, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) out.push_back(line);
    }
  } else {
    std::stringstream ss(arg);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.push_back(item);
  }
  LESEG_CHECK(!out.empty(), "--val: '", arg, "' names no scene");
  return out;
}

ConvertResult convert(const std::string& format, const std::string& src, const std::string& dst, const ConvertOptions& opt) {
  if (!fs::exists(src)) LESEG_FAIL("convert: source '", src, "' does not exist");
  Writer w{dst, opt, {}, {}};
  DatasetInfo info;
  info.ignore_index = -1;
  fs::path s(src);
  if (format == "pointcept") {
    info.name = "pointcept";
    info.classes = scannet20_classes();
    w.set_classes(info, format, false);
    auto one = [&](const fs::path& sd, const std::string& split) {
      ReadReport r;
      Scene sc = read_pointcept_scene(sd.string(), {}, &r);
      w.note(sc.name, r);
      w.add(sc, split, sd.string());
    };
    if (fs::exists(s / "coord.npy")) {
      one(s, "train");
    } else {
      std::vector<std::string> split_names;
      for (auto& e : fs::directory_iterator(s))
        if (e.is_directory()) split_names.push_back(e.path().filename().string());
      std::sort(split_names.begin(), split_names.end());
      for (auto& sp : split_names)
        for (auto& sc : list_pointcept_scenes(src, sp)) {
          if (w.full()) break;
          one(s / sp / sc, sp);
        }
    }
  } else if (format == "scannet" || format == "scannet-sens") {
    const bool sens = format == "scannet-sens";
    info.name = "scannet";
    info.classes = scannet20_classes();
    w.set_classes(info, format, false);
    std::vector<fs::path> scans;
    if (is_scannet_scan(s)) scans.push_back(s);
    else {
      for (auto& e : fs::directory_iterator(s))
        if (e.is_directory() && is_scannet_scan(e.path())) scans.push_back(e.path());
      std::sort(scans.begin(), scans.end());
    }
    if (scans.empty()) LESEG_FAIL("convert scannet: no <scene>/<scene>_vh_clean_2.ply under ", src);
    std::string tsv = find_up(s, "scannetv2-labels.combined.tsv", 2);
    for (auto& sp : scans) {
      if (w.full()) break;
      ScanNetReport r;
      Scene sc = read_scannet_scan(sp.string(), tsv, &r);
      fs::path frames = fs::is_directory(sp / "frames" / "pose") ? sp / "frames" : sp;
      const fs::path sens_file = sp / (sp.filename().string() + ".sens");
      if (sens) {
        if (!fs::exists(sens_file)) LESEG_FAIL("convert scannet-sens: ", sens_file.string(), " does not exist");
        sc.views = read_scannet_sens_views(sens_file.string(), ScanNetFrameOptions{opt.frame_stride, opt.max_frames, true}, &r);
      } else if (fs::is_directory(frames / "pose"))
        sc.views = read_scannet_frames(frames.string(), ScanNetFrameOptions{opt.frame_stride, opt.max_frames, true}, &r);
      if (r.frames_bad_pose) w.res.notes.push_back(sc.name + ": " + std::to_string(r.frames_bad_pose) + " frames skipped (invalid pose)");
      if (r.unlabeled) w.res.notes.push_back(sc.name + ": " + std::to_string(r.unlabeled) + " vertices ignore (-1)");
      w.add(sc, "train", sp.string());
    }
  } else if (format == "s3dis") {
    info.name = "s3dis";
    info.classes = s3dis_classes();
    w.set_classes(info, format, false);
    std::vector<std::pair<std::string, fs::path>> rooms;  // (scene name, folder)
    auto area = [&](const fs::path& a) {
      for (auto& r : list_s3dis_rooms(a.string())) rooms.push_back({a.filename().string() + "_" + r, a / r});
    };
    if (fs::is_directory(s / "Annotations")) rooms.push_back({s.parent_path().filename().string() + "_" + s.filename().string(), s});
    else if (!list_s3dis_rooms(src).empty()) area(s);
    else {
      std::vector<fs::path> areas;
      for (auto& e : fs::directory_iterator(s))
        if (e.is_directory() && e.path().filename().string().rfind("Area_", 0) == 0) areas.push_back(e.path());
      std::sort(areas.begin(), areas.end());
      for (auto& a : areas) area(a);
    }
    if (rooms.empty()) LESEG_FAIL("convert s3dis: no room with Annotations/ under ", src);
    for (auto& [name, dir] : rooms) {
      if (w.full()) break;
      ReadReport r;
      Scene sc = read_s3dis_room(dir.string(), &r);
      sc.name = name;
      w.note(name, r);
      w.add(sc, name.rfind("Area_5_", 0) == 0 ? "val" : "train", dir.string());
    }
  } else if (format == "semantickitti") {
    info.name = "semantickitti";
    info.classes = semantickitti_classes();
    w.set_classes(info, format, false);
    std::vector<fs::path> seqs;
    if (fs::is_directory(s / "velodyne")) seqs.push_back(s);
    else {
      fs::path root = fs::is_directory(s / "sequences") ? s / "sequences" : s;
      for (auto& e : fs::directory_iterator(root))
        if (e.is_directory() && fs::is_directory(e.path() / "velodyne")) seqs.push_back(e.path());
      std::sort(seqs.begin(), seqs.end());
    }
    if (seqs.empty()) LESEG_FAIL("convert semantickitti: no sequence folder with velodyne/ under ", src);
    std::string yaml = find_up(s, "semantic-kitti.yaml", 3);
    std::map<int, int> lm = yaml.empty() ? semantickitti_learning_map() : read_learning_map_yaml(yaml);
    if (yaml.empty()) w.res.notes.push_back("semantic-kitti.yaml not found: built-in learning_map used");
    for (auto& sq : seqs) {
      for (auto& id : list_kitti_scans(sq.string())) {
        if (w.full()) break;
        std::string lab = (sq / "labels" / (id + ".label")).string();
        KittiReport r;
        Scene sc = read_semantickitti_scan((sq / "velodyne" / (id + ".bin")).string(), fs::exists(lab) ? lab : "", lm, &r);
        sc.name = sq.filename().string() + "_" + id;
        w.note(sc.name, r.points);
        int seq_no = std::atoi(sq.filename().string().c_str());
        w.add(sc, seq_no == 8 ? "val" : "train", (sq / "velodyne" / (id + ".bin")).string());
      }
    }
  } else if (format == "nuscenes") {
    info.name = "nuscenes";
    info.classes = nuscenes16_classes();
    w.set_classes(info, format, false);
    ReadReport r;
    SweepReport sr;
    Scene sc = opt.sweeps > 0 ? read_nuscenes_multisweep(src, opt.sweeps, true, 1.0f, &r, &sr) : read_nuscenes_sample(src, true, &r);
    if (sc.name.empty()) sc.name = "sample";
    w.note(sc.name, r);
    if (opt.sweeps > 0)
      w.res.notes.push_back(sc.name + ": " + std::to_string(sr.sweeps_used) + " of " + std::to_string(opt.sweeps) +
                            " sweeps aggregated (" + std::to_string(sr.sweeps_listed) + " listed), " +
                            std::to_string(sr.points_added) + " points added, " + std::to_string(sr.close_removed) +
                            " within 1 m of the sensor dropped");
    w.add(sc, "train", src);
  } else if (format == "mosd") {
    info.name = "mosd";
    info.classes = mosd_classes();
    w.set_classes(info, format, false);
    std::vector<fs::path> files;
    if (fs::is_directory(s)) {
      for (auto& e : fs::directory_iterator(s))
        if (e.path().extension() == ".pcd") files.push_back(e.path());
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(s);
    }
    LESEG_CHECK(!files.empty(), "convert mosd: no *.pcd in '", src, "'");
    for (auto& f : files) {
      if (w.full()) break;
      Scene sc = read_mosd_rgbd(f.string());
      w.add(sc, "train", f.string());
    }
  } else if (format == "kitti") {
    info.name = "kitti";
    info.classes = semantickitti_classes();
    w.set_classes(info, format, false);
    struct Item { std::string name, bin, image, calib, label, split; };
    std::vector<Item> items;
    auto scans_in = [](const fs::path& velo) {
      std::vector<std::string> ids;
      for (auto& e : fs::directory_iterator(velo))
        if (e.path().extension() == ".bin") ids.push_back(e.path().stem().string());
      std::sort(ids.begin(), ids.end());
      return ids;
    };
    auto image_of = [](const fs::path& dir, const std::string& id) {
      for (const char* ext : {".png", ".jpg"})
        if (fs::exists(dir / (id + ext))) return (dir / (id + ext)).string();
      return std::string();
    };
    int64_t no_image = 0;
    auto object_split = [&](const fs::path& sd, const std::string& split) {
      for (auto& id : scans_in(sd / "velodyne")) {
        std::string img = image_of(sd / "image_2", id);
        if (img.empty()) { ++no_image; continue; }
        items.push_back({split + "_" + id, (sd / "velodyne" / (id + ".bin")).string(), img,
                         (sd / "calib" / (id + ".txt")).string(), "", split == "testing" ? "val" : "train"});
      }
    };
    auto odometry_seq = [&](const fs::path& sq) {
      for (auto& id : scans_in(sq / "velodyne")) {
        std::string img = image_of(sq / "image_2", id);
        if (img.empty()) { ++no_image; continue; }
        fs::path lab = sq / "labels" / (id + ".label");
        items.push_back({sq.filename().string() + "_" + id, (sq / "velodyne" / (id + ".bin")).string(), img,
                         (sq / "calib.txt").string(), fs::exists(lab) ? lab.string() : "",
                         std::atoi(sq.filename().string().c_str()) == 8 ? "val" : "train"});
      }
    };
    if (fs::is_directory(s / "velodyne") && fs::is_directory(s / "calib")) object_split(s, s.filename().string());
    else if (fs::is_directory(s / "velodyne") && fs::exists(s / "calib.txt")) odometry_seq(s);
    else if (fs::is_directory(s / "training") || fs::is_directory(s / "testing")) {
      for (const char* sp : {"training", "testing"})
        if (fs::is_directory(s / sp / "velodyne")) object_split(s / sp, sp);
    } else {
      fs::path root = fs::is_directory(s / "sequences") ? s / "sequences" : s;
      std::vector<fs::path> seqs;
      for (auto& e : fs::directory_iterator(root))
        if (e.is_directory() && fs::is_directory(e.path() / "velodyne")) seqs.push_back(e.path());
      std::sort(seqs.begin(), seqs.end());
      for (auto& sq : seqs) odometry_seq(sq);
    }
    if (no_image) w.res.notes.push_back(std::to_string(no_image) + " scans without an image_2 file skipped");
    if (items.empty()) LESEG_FAIL("convert kitti: no scan with velodyne/<id>.bin and image_2/<id>.png under ", src,
                                  " (object: training/{velodyne,image_2,calib}; odometry: sequences/<nn>/{velodyne,image_2,calib.txt})");
    std::string yaml = find_up(s, "semantic-kitti.yaml", 3);
    std::map<int, int> lm = yaml.empty() ? semantickitti_learning_map() : read_learning_map_yaml(yaml);
    for (auto& it : items) {
      if (w.full()) break;
      KittiReport r;
      Scene sc = read_kitti_frame(it.bin, it.image, it.calib, it.label, lm, &r);
      sc.name = it.name;
      w.note(sc.name, r.points);
      w.add(sc, it.split, it.bin);
    }
  } else if (format == "ply" || format == "pcd") {
    info.name = format;
    w.set_classes(info, format, true);
    std::vector<fs::path> files;
    if (fs::is_directory(s)) {
      for (auto& e : fs::directory_iterator(s))
        if (e.is_regular_file() && e.path().extension() == "." + format) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      LESEG_CHECK(!files.empty(), "convert ", format, ": no *.", format, " file in '", src, "'");
    } else {
      files.push_back(s);
    }
    std::set<std::string> names;
    for (auto& f : files) {
      if (w.full()) break;
      ReadReport r;
      Scene sc;
      if (format == "ply") {
        sc = read_ply_scene(f.string(), &r);
      } else {
        PcdCloud c = read_pcd_cloud(f.string(), /*drop_invalid=*/true, &r);
        sc.coords = c.coords;
        sc.colors = c.colors;
        sc.instances = c.labels;  // PCD label fields are object/instance ids (e.g. PCL mOSD)
      }
      sc.name = f.filename().string();
      sc.name = sc.name.substr(0, sc.name.find('.'));
      LESEG_CHECK(!sc.name.empty() && names.insert(sc.name).second, "convert ", format, ": '", f.string(),
                  "' gives scene name '", sc.name, "', empty or already used by another file");
      w.note(sc.name, r);
      w.add(sc, "train", f.string());
    }
    if (info.classes.empty()) {
      for (int c = 0; c <= w.max_label; ++c) info.classes.push_back("class_" + std::to_string(c));
      if (w.max_label >= 0)
        w.res.notes.push_back(std::to_string(w.max_label + 1) + " classes class_0 .. class_" + std::to_string(w.max_label) +
                              " named from the largest label present; pass --classes FILE or --num-classes N when "
                              "some classes are absent from these files");
    }
  } else {
    LESEG_FAIL("convert: unknown format '", format, "' (pointcept, scannet, scannet-sens, s3dis, semantickitti, nuscenes, kitti, mosd, ply, pcd)");
  }
  w.finish(info);
  return w.res;
}

InspectReport inspect(const std::string& root) {
  InspectReport rep;
  std::ostringstream os;
  fs::path r(root);
  if (!fs::is_directory(r)) LESEG_FAIL("inspect: '", root, "' is not a directory");
  DatasetInfo info;
  if (fs::exists(r / "dataset.json")) {
    info = read_dataset_info(root);
    os << "dataset " << (info.name.empty() ? "(unnamed)" : info.name) << ": " << info.classes.size() << " classes, ignore "
       << info.ignore_index;
    if (info.text_embeddings.defined()) os << ", text embeddings " << info.text_embeddings.shape().str();
    else rep.warnings.push_back("no text_embeddings.npy: fine for supervised training; the label-free regimes "
                                "(clip2scene, hicl, cns) need class text embeddings");
    os << "\n";
  } else {
    rep.missing.push_back("dataset.json");
    os << "dataset.json missing\n";
  }
  std::vector<std::string> scene_names;
  if (fs::is_directory(r / "scenes"))
    for (auto& e : fs::directory_iterator(r / "scenes"))
      if (e.is_directory()) scene_names.push_back(e.path().filename().string());
  std::sort(scene_names.begin(), scene_names.end());
  for (auto& e : fs::directory_iterator(r)) {
    if (e.path().extension() != ".txt") continue;
    std::string split = e.path().stem().string();
    std::vector<std::string> names = read_split(root, split);
    int64_t absent = 0;
    for (auto& n : names)
      if (!std::binary_search(scene_names.begin(), scene_names.end(), n)) {
        ++absent;
        rep.missing.push_back("scene '" + n + "' listed in " + split + ".txt");
      }
    os << "split " << split << ": " << names.size() << " scenes" << (absent ? " (" + std::to_string(absent) + " missing)" : "") << "\n";
  }
  const int64_t C = int64_t(info.classes.size());
  std::map<int64_t, int64_t> hist;
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  std::map<std::string, int64_t> have;  // array name -> scenes having it
  std::map<std::string, int64_t> view_files;
  int64_t nonfinite = 0;
  const char* arrays[] = {"color.npy", "normal.npy", "segment.npy", "instance.npy", "geo_segment.npy", "intensity.npy", "time.npy"};
  const char* vfiles[] = {"color.png", "depth.png", "intrinsic.txt", "pose.txt", "clip_label.png", "sam_mask.npy", "sam_feat.npy",
                          "label.png", "caption_scene.npy", "caption_objects.npy"};
  for (auto& name : scene_names) {
    fs::path sd = r / "scenes" / name;
    SceneReadOptions o;
    o.views = false;
    Scene s;
    try {
      s = read_scene(sd.string(), o);
    } catch (const Error& e) {
      rep.missing.push_back(std::string("scene '") + name + "' unreadable: " + e.what());
      continue;
    }
    ++rep.scenes;
    rep.points += s.num_points();
    for (const char* a : arrays) have[a] += fs::exists(sd / a);
    std::vector<float> c = s.coords.to_vector<float>();
    for (size_t i = 0; i < c.size(); ++i) {
      if (!std::isfinite(c[i])) { ++nonfinite; continue; }
      lo[i % 3] = std::min(lo[i % 3], double(c[i]));
      hi[i % 3] = std::max(hi[i % 3], double(c[i]));
    }
    if (s.labels.defined())
      for (int32_t l : s.labels.to_vector<int32_t>()) ++hist[l];
    else
      rep.missing.push_back("scene '" + name + "': segment.npy (labels)");
    if (fs::is_directory(sd / "views")) {
      for (auto& v : fs::directory_iterator(sd / "views")) {
        if (!v.is_directory()) continue;
        ++rep.views;
        for (const char* f : vfiles) view_files[f] += fs::exists(v.path() / f);
        for (const char* f : {"intrinsic.txt", "pose.txt"})
          if (!fs::exists(v.path() / f)) rep.missing.push_back("scene '" + name + "' view '" + v.path().filename().string() + "': " + f);
      }
    }
  }
  os << "scenes " << rep.scenes << ", points " << rep.points << ", views " << rep.views << "\n";
  if (rep.points) {
    os.precision(4);
    os << "bounds x [" << lo[0] << ", " << hi[0] << "] y [" << lo[1] << ", " << hi[1] << "] z [" << lo[2] << ", " << hi[2] << "]";
    if (nonfinite) os << " (" << nonfinite << " non-finite values)";
    os << "\n";
  }
  os << "arrays present (scenes):";
  for (const char* a : arrays) os << " " << a << "=" << have[a];
  os << "\n";
  if (rep.views) {
    os << "view files present (views):";
    for (const char* f : vfiles) os << " " << f << "=" << view_files[f];
    os << "\n";
  }
  rep.label_histogram.assign(size_t(C + 1), 0);
  int64_t out_of_range = 0;
  for (auto& [l, n] : hist) {
    if (l == -1) rep.label_histogram[size_t(C)] += n;
    else if (l >= 0 && l < C) rep.label_histogram[size_t(l)] += n;
    else out_of_range += n;
  }
  if (!hist.empty()) {
    os << "label histogram:\n";
    int64_t total = 0;
    for (auto& [l, n] : hist) total += n;
    char buf[160];
    for (int64_t c = 0; c <= C; ++c) {
      int64_t n = rep.label_histogram[size_t(c)];
      std::snprintf(buf, sizeof buf, "  %3lld %-22s %12lld  %6.2f%%\n", (long long)(c == C ? -1 : c),
                    c == C ? "(ignore)" : info.classes[size_t(c)].c_str(), (long long)n, 100.0 * double(n) / double(std::max<int64_t>(total, 1)));
      os << buf;
    }
    if (out_of_range) {
      os << "  labels outside [-1, " << C << "): " << out_of_range << "\n";
      rep.missing.push_back(std::to_string(out_of_range) + " labels outside the class range");
    }
  }
  // Every scene problem named (scene, file, field, index): the data check (io/check.h), views' files included.
  {
    CheckReport cr = check_dataset(root);
    for (const auto& e : cr.errors) {
      const bool listed_above = e.field == "split" || (fs::path(e.file).filename() == "dataset.json" && e.field == "file");
      if (!listed_above) rep.missing.push_back(e.str());
    }
    for (const auto& wn : cr.warnings)
      if (fs::path(wn.file).filename() != "text_embeddings.npy") rep.warnings.push_back(wn.str());
  }
  if (!rep.warnings.empty()) {
    os << "warnings: " << rep.warnings.size() << "\n";
    for (size_t i = 0; i < rep.warnings.size() && i < 50; ++i) os << "  " << rep.warnings[i] << "\n";
  }
  os << "missing: " << (rep.missing.empty() ? "nothing" : std::to_string(rep.missing.size()) + " item(s)") << "\n";
  for (size_t i = 0; i < rep.missing.size() && i < 50; ++i) os << "  " << rep.missing[i] << "\n";
  if (rep.missing.size() > 50) os << "  ... " << rep.missing.size() - 50 << " more\n";
  rep.text = os.str();
  return rep;
}

}  // namespace leseg::io
