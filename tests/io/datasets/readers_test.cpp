// SPDX-License-Identifier: Apache-2.0
// Hand-made datasets written by the test: a tiny ScanNet raw scene (mesh ply + labels ply + segs.json +
// aggregation.json + tsv) and its exported frames, an S3DIS room, a Pointcept layout, a SemanticKITTI
// sequence; scene layout round trip; convert + inspect; corrupt inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "io/convert.h"
#include "io/datasets/label_maps.h"
#include "io/datasets/pointcept.h"
#include "io/datasets/s3dis.h"
#include "io/datasets/scannet.h"
#include "io/datasets/scene_io.h"
#include "io/datasets/semantickitti.h"
#include "io/formats/image.h"
#include "io/formats/npy.h"
#include "io/formats/ply.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;
using leseg::testing::write_bytes;
namespace fs = std::filesystem;

namespace {

// 6 vertices in 3 segments {0,1}, {2,3}, {4,5}; NYU40 labels: chair(5), wall(1), 0 (unannotated).
void make_scannet_scene(const fs::path& root, bool with_labels_ply) {
  fs::path d = root / "scene0000_00";
  fs::create_directories(d);
  std::vector<double> x = {0, 1, 2, 3, 4, 5}, y(6, 0.5), z = {0, 0, 1, 1, 2, 2}, r = {10, 20, 30, 40, 50, 60};
  write_ply((d / "scene0000_00_vh_clean_2.ply").string(),
            {{"x", PlyType::f32, x}, {"y", PlyType::f32, y}, {"z", PlyType::f32, z}, {"red", PlyType::u8, r},
             {"green", PlyType::u8, r}, {"blue", PlyType::u8, r}, {"alpha", PlyType::u8, std::vector<double>(6, 255)}});
  if (with_labels_ply)
    write_ply((d / "scene0000_00_vh_clean_2.labels.ply").string(),
              {{"x", PlyType::f32, x}, {"y", PlyType::f32, y}, {"z", PlyType::f32, z}, {"label", PlyType::u16, {5, 5, 1, 1, 0, 0}}});
  write_bytes((d / "scene0000_00_vh_clean_2.0.010000.segs.json").string(),
              R"({"params": {}, "sceneId": "scene0000_00", "segIndices": [17, 17, 4, 4, 99, 99]})");
  write_bytes((d / "scene0000_00.aggregation.json").string(),
              R"({"sceneId": "scene0000_00", "segGroups": [{"id": 0, "objectId": 0, "label": "chair", "segments": [17]},
                  {"id": 1, "objectId": 1, "label": "wall", "segments": [4, 12345]}]})");
  write_bytes((root / "scannetv2-labels.combined.tsv").string(),
              "id\traw_category\tcategory\tcount\tnyu40id\n1\twall\twall\t1\t1\n2\tchair\tchair\t1\t5\n");
  // exported frames: 2 good frames and one with an invalid pose
  fs::path f = d / "frames";
  for (const char* sub : {"color", "depth", "pose", "intrinsic"}) fs::create_directories(f / sub);
  write_bytes((f / "intrinsic" / "intrinsic_depth.txt").string(), "5 0 3.5 0\n0 5 2.5 0\n0 0 1 0\n0 0 0 1\n");
  for (int i : {0, 1, 2}) {
    std::string id = std::to_string(i * 10);
    write_bytes((f / "pose" / (id + ".txt")).string(), i == 1 ? "-inf -inf -inf -inf\n-inf -inf -inf -inf\n-inf -inf -inf -inf\n-inf -inf -inf -inf\n"
                                                             : "1 0 0 0\n0 1 0 0\n0 0 1 " + std::to_string(i) + "\n0 0 0 1\n");
    std::vector<int32_t> mm(6 * 8);
    for (size_t k = 0; k < mm.size(); ++k) mm[k] = int32_t(1000 + k);
    write_png_u16((f / "depth" / (id + ".png")).string(), Tensor::from_vector(mm, Shape{6, 8}));
    std::vector<uint8_t> px(12 * 16 * 3, uint8_t(40 * i));
    write_png_rgb((f / "color" / (id + ".jpg")).string(), Tensor::from_vector(px, Shape{12, 16, 3}));  // PNG bytes, stb sniffs
  }
}

}  // namespace

TEST(ScanNet, RawSceneFromLabelsPly) {
  leseg::testing::TempDir t;
  make_scannet_scene(t.path, true);
  ScanNetReport rep;
  Scene s = read_scannet_scan(t.file("scene0000_00"), "", &rep);
  ASSERT_EQ(s.num_points(), 6);
  EXPECT_EQ(s.labels.to_vector<int32_t>(), (std::vector<int32_t>{4, 4, 0, 0, -1, -1}));  // chair=4, wall=0
  EXPECT_EQ(s.instances.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 1, 1, -1, -1}));
  EXPECT_EQ(s.segments.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(s.colors.to_vector<uint8_t>()[3], 20);
  EXPECT_EQ(rep.unlabeled, 2);
}

TEST(ScanNet, RawSceneFromAggregationAndTsv) {
  leseg::testing::TempDir t;
  make_scannet_scene(t.path, false);
  expect_error([&] { read_scannet_scan(t.file("scene0000_00")); }, {"scannetv2-labels.combined.tsv"});
  Scene s = read_scannet_scan(t.file("scene0000_00"), t.file("scannetv2-labels.combined.tsv"));
  EXPECT_EQ(s.labels.to_vector<int32_t>(), (std::vector<int32_t>{4, 4, 0, 0, -1, -1}));
}

TEST(ScanNet, ExportedFrames) {
  leseg::testing::TempDir t;
  make_scannet_scene(t.path, true);
  ScanNetReport rep;
  std::vector<View> v = read_scannet_frames(t.file("scene0000_00/frames"), {}, &rep);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(rep.frames_bad_pose, 1);
  EXPECT_EQ(v[1].name, "20");
  EXPECT_EQ(v[1].cam_to_world.to_vector<float>()[11], 2.f);
  EXPECT_EQ(v[0].intrinsics.to_vector<float>(), (std::vector<float>{5, 0, 3.5f, 0, 5, 2.5f, 0, 0, 1}));
  EXPECT_EQ(v[0].depth.shape(), (Shape{6, 8}));
  EXPECT_FLOAT_EQ(v[0].depth.to_vector<float>()[5], 1.005f);
  EXPECT_EQ(v[1].image.shape(), (Shape{6, 8, 3}));  // resized to the depth resolution
  EXPECT_EQ(v[1].image.to_vector<uint8_t>()[7], 80);
}

TEST(ScanNet, CorruptInputs) {
  leseg::testing::TempDir t;
  make_scannet_scene(t.path, true);
  fs::path d = t.path / "scene0000_00";
  write_bytes((d / "scene0000_00_vh_clean_2.0.010000.segs.json").string(), R"({"segIndices": [1, 2, 3]})");
  expect_error([&] { read_scannet_scan(d.string()); }, {"segs.json", "3 entries", "6 vertices"});
  write_bytes((d / "scene0000_00_vh_clean_2.0.010000.segs.json").string(), R"({"segIndices": [1, 2, 3)");
  expect_error([&] { read_scannet_scan(d.string()); }, {"segs.json", "invalid JSON"});
  fs::remove(d / "scene0000_00_vh_clean_2.ply");
  expect_error([&] { read_scannet_scan(d.string()); }, {"scene0000_00_vh_clean_2.ply"});
}

TEST(S3dis, RoomFromAnnotations) {
  leseg::testing::TempDir t;
  fs::path ann = t.path / "Area_1" / "office_1" / "Annotations";
  fs::create_directories(ann);
  write_bytes((ann / "chair_1.txt").string(), "1.0 2.0 3.0 255 0 0\n1.5 2.5 3.5 250 5 5\n");
  write_bytes((ann / "ceiling_1.txt").string(), "0 0 3 200 200 200\nnan 0 3 1 1 1\n");
  write_bytes((ann / "stairs_1.txt").string(), "9 9 9 1 2 3\n");
  ReadReport rep;
  Scene s = read_s3dis_room((t.path / "Area_1" / "office_1").string(), &rep);
  ASSERT_EQ(s.num_points(), 4);
  EXPECT_EQ(rep.nan_dropped, 1);
  // files sorted: ceiling_1, chair_1, stairs_1
  EXPECT_EQ(s.labels.to_vector<int32_t>(), (std::vector<int32_t>{0, 7, 7, 12}));
  EXPECT_EQ(s.instances.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 1, 2}));
  EXPECT_EQ(s.colors.to_vector<uint8_t>()[3], 255);
  write_bytes((ann / "table_1.txt").string(), "1 2 3 4 5 6\n1 2 3 4\n");
  expect_error([&] { read_s3dis_room((t.path / "Area_1" / "office_1").string()); }, {"table_1.txt", "line 2", "4 numbers"});
}

TEST(Pointcept, SceneLayout) {
  leseg::testing::TempDir t;
  fs::path d = t.path / "train" / "scene0001_00";
  fs::create_directories(d);
  std::vector<double> c = {0, 0, 0, 1, 1, 1, NAN, 0, 0, 2, 2, 2};
  write_npy((d / "coord.npy").string(), Tensor::from_vector(c, Shape{4, 3}));  // f8 on disk
  write_npy((d / "color.npy").string(), Tensor::from_vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Shape{4, 3}));
  write_npy((d / "segment20.npy").string(), Tensor::from_vector<int64_t>({3, -1, 5, 25}, Shape{4}));
  write_npy((d / "instance.npy").string(), Tensor::from_vector<int32_t>({0, 0, 1, -1}, Shape{4}));
  ReadReport rep;
  Scene s = read_pointcept_scene(d.string(), {}, &rep);
  EXPECT_EQ(rep.nan_dropped, 1);
  EXPECT_EQ(rep.labels_out_of_range, 1);
  ASSERT_EQ(s.num_points(), 3);
  EXPECT_EQ(s.coords.dtype(), DType::f32);
  EXPECT_EQ(s.coords.to_vector<float>(), (std::vector<float>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(s.colors.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 10, 11, 12}));
  EXPECT_EQ(s.labels.to_vector<int32_t>(), (std::vector<int32_t>{3, -1, -1}));
  EXPECT_EQ(s.instances.to_vector<int32_t>(), (std::vector<int32_t>{0, 0, -1}));
  EXPECT_EQ(list_pointcept_scenes(t.path.string(), "train"), std::vector<std::string>{"scene0001_00"});
  write_npy((d / "color.npy").string(), Tensor::zeros(Shape{3, 3}, DType::u8));
  expect_error([&] { read_pointcept_scene(d.string()); }, {"color.npy", "for 4 points"});
}

TEST(SemanticKitti, HandMadeSequenceAndErrors) {
  leseg::testing::TempDir t;
  fs::path seq = t.path / "sequences" / "00";
  fs::create_directories(seq / "velodyne");
  fs::create_directories(seq / "labels");
  std::vector<float> pts = {1, 2, 3, 0.5f, NAN, 0, 0, 0.1f, 4, 5, 6, 0.9f};
  write_bytes((seq / "velodyne" / "000000.bin").string(), std::string(reinterpret_cast<const char*>(pts.data()), pts.size() * 4));
  std::vector<uint32_t> lab = {(7u << 16) | 10u, 40u, (3u << 16) | 777u};
  write_bytes((seq / "labels" / "000000.label").string(), std::string(reinterpret_cast<const char*>(lab.data()), lab.size() * 4));
  KittiReport rep;
  Scene s = read_semantickitti_scan((seq / "velodyne/000000.bin").string(), (seq / "labels/000000.label").string(), {}, &rep);
  ASSERT_EQ(s.num_points(), 2);
  EXPECT_EQ(rep.points.nan_dropped, 1);
  EXPECT_EQ(rep.unknown_raw_labels, 1);
  EXPECT_EQ(s.labels.to_vector<int32_t>(), (std::vector<int32_t>{0, -1}));  // car; 777 unknown -> ignore
  EXPECT_EQ(s.instances.to_vector<int32_t>(), (std::vector<int32_t>{7, 3}));
  EXPECT_EQ(s.intensity.to_vector<float>(), (std::vector<float>{0.5f, 0.9f}));
  write_bytes((seq / "calib.txt").string(), "P0: 1 0 0 0 0 1 0 0 0 0 1 0\nTr: 0 -1 0 0 0 0 -1 0 1 0 0 -0.1\n");
  KittiCalib cal = read_kitti_calib((seq / "calib.txt").string());
  EXPECT_EQ(cal.velo_to_cam().to_vector<float>()[11], -0.1f);
  write_bytes((seq / "poses.txt").string(), "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 1 0 1 0 2 0 0 1 3\n");
  Tensor poses = read_kitti_poses((seq / "poses.txt").string());
  ASSERT_EQ(poses.shape(), (Shape{2, 4, 4}));
  EXPECT_EQ(poses.to_vector<float>()[16 + 7], 2.f);
  write_bytes((seq / "bad_calib.txt").string(), "P0: 1 0 0\n");
  expect_error([&] { read_kitti_calib((seq / "bad_calib.txt").string()); }, {"bad_calib.txt", "line 1", "expected 12"});
  write_bytes((seq / "velodyne" / "000001.bin").string(), std::string(18, '\0'));
  expect_error([&] { read_semantickitti_scan((seq / "velodyne/000001.bin").string(), ""); }, {"000001.bin", "multiple of 16"});
  write_bytes((seq / "labels" / "short.label").string(), std::string(8, '\0'));
  expect_error([&] { read_semantickitti_scan((seq / "velodyne/000000.bin").string(), (seq / "labels/short.label").string()); },
               {"short.label", "2 labels for 3 points"});
}

TEST(SceneIo, RoundTripWithViews) {
  leseg::testing::TempDir t;
  Scene s;
  s.name = "room";
  const int64_t n = 11;
  s.coords = Tensor::randn(Shape{n, 3}, 3);
  s.normals = Tensor::randn(Shape{n, 3}, 4);
  s.intensity = Tensor::rand(Shape{n}, 5);
  std::vector<uint8_t> col(size_t(3 * n));
  std::vector<int32_t> lab(static_cast<size_t>(n)), seg(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) col[size_t(3 * i + k)] = uint8_t(i * 20 + k);
    lab[size_t(i)] = int32_t(i % 4) - 1;
    seg[size_t(i)] = int32_t(i / 3);
  }
  s.colors = Tensor::from_vector(col, Shape{n, 3});
  s.labels = Tensor::from_vector(lab, Shape{n});
  s.instances = Tensor::from_vector(seg, Shape{n});
  s.segments = Tensor::from_vector(seg, Shape{n});
  for (int k = 0; k < 11; ++k) {  // 11 views: numeric names must sort as 0..10
    View v;
    v.name = std::to_string(k);
    const int64_t H = 3, W = 5;
    std::vector<uint8_t> px(size_t(H * W * 3));
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i + size_t(k));
    v.image = Tensor::from_vector(px, Shape{H, W, 3});
    std::vector<float> dep(size_t(H * W));
    for (size_t i = 0; i < dep.size(); ++i) dep[i] = i == 0 ? 0.f : 0.5f + 0.001f * float(i + size_t(k));
    v.depth = Tensor::from_vector(dep, Shape{H, W});
    v.intrinsics = Tensor::from_vector<float>({100, 0, 2, 0, 100, 1.5f, 0, 0, 1}, Shape{3, 3});
    v.cam_to_world = Tensor::from_vector<float>({1, 0, 0, 0.25f, 0, 1, 0, 0, 0, 0, 1, float(k), 0, 0, 0, 1}, Shape{4, 4});
    std::vector<int32_t> cl(size_t(H * W)), sm(size_t(H * W));
    for (size_t i = 0; i < cl.size(); ++i) { cl[i] = int32_t(i % 6) - 1; sm[i] = int32_t(i % 3) - 1; }
    v.clip_labels = Tensor::from_vector(cl, Shape{H, W});
    v.sam_masks = Tensor::from_vector(sm, Shape{H, W});
    v.gt_labels = Tensor::from_vector(cl, Shape{H, W});
    v.sam_features = Tensor::randn(Shape{2, 2, 4}, 9);
    v.caption_scene = Tensor::randn(Shape{8}, 10);
    v.caption_objects = Tensor::randn(Shape{2, 8}, 11);
    v.caption_object_ids = Tensor::from_vector<int32_t>({0, 1}, Shape{2});
    s.views.push_back(v);
  }
  write_scene(t.file("scenes/room"), s);
  Scene r = read_scene(t.file("scenes/room"));
  EXPECT_EQ(r.name, "room");
  EXPECT_EQ(r.coords.to_vector<float>(), s.coords.to_vector<float>());
  EXPECT_EQ(r.normals.to_vector<float>(), s.normals.to_vector<float>());
  EXPECT_EQ(r.intensity.to_vector<float>(), s.intensity.to_vector<float>());
  EXPECT_EQ(r.colors.to_vector<uint8_t>(), col);
  EXPECT_EQ(r.labels.to_vector<int32_t>(), lab);
  EXPECT_EQ(r.segments.to_vector<int32_t>(), seg);
  ASSERT_EQ(r.views.size(), 11u);
  for (size_t k = 0; k < 11; ++k) {
    const View &a = s.views[k], &b = r.views[k];
    ASSERT_EQ(b.name, a.name);
    EXPECT_EQ(b.image.to_vector<uint8_t>(), a.image.to_vector<uint8_t>());
    std::vector<float> da = a.depth.to_vector<float>(), db = b.depth.to_vector<float>();
    for (size_t i = 0; i < da.size(); ++i) EXPECT_NEAR(db[i], da[i], 0.0005f) << "view " << k << " pixel " << i;  // mm quantisation
    EXPECT_EQ(b.intrinsics.to_vector<float>(), a.intrinsics.to_vector<float>());
    EXPECT_EQ(b.cam_to_world.to_vector<float>(), a.cam_to_world.to_vector<float>());
    EXPECT_EQ(b.clip_labels.to_vector<int32_t>(), a.clip_labels.to_vector<int32_t>());
    EXPECT_EQ(b.gt_labels.to_vector<int32_t>(), a.gt_labels.to_vector<int32_t>());
    EXPECT_EQ(b.sam_masks.to_vector<int32_t>(), a.sam_masks.to_vector<int32_t>());
    EXPECT_EQ(b.sam_features.to_vector<float>(), a.sam_features.to_vector<float>());
    EXPECT_EQ(b.caption_objects.to_vector<float>(), a.caption_objects.to_vector<float>());
    EXPECT_EQ(b.caption_object_ids.to_vector<int32_t>(), a.caption_object_ids.to_vector<int32_t>());
  }
  DatasetInfo info;
  info.name = "toy";
  info.classes = {"a", "b", "c"};
  info.text_embeddings = Tensor::randn(Shape{3, 4}, 12);
  write_dataset_info(t.path.string(), info);
  write_split(t.path.string(), "train", {"room", "ghost"});
  DatasetInfo ri = read_dataset_info(t.path.string());
  EXPECT_EQ(ri.classes, info.classes);
  EXPECT_EQ(ri.text_embeddings.to_vector<float>(), info.text_embeddings.to_vector<float>());
  InspectReport ins = inspect(t.path.string());
  EXPECT_EQ(ins.scenes, 1);
  EXPECT_EQ(ins.points, n);
  EXPECT_EQ(ins.views, 11);
  ASSERT_EQ(ins.label_histogram.size(), 4u);
  EXPECT_EQ(ins.label_histogram[3], 3);  // -1 appears for i % 4 == 0: 0, 4, 8
  EXPECT_NE(ins.text.find("scene 'ghost' listed in train.txt"), std::string::npos) << ins.text;
  Scene bad;
  bad.name = "x";
  bad.coords = Tensor::zeros(Shape{2, 2});
  expect_error([&] { write_scene(t.file("bad"), bad); }, {"coords"});
  write_bytes(t.file("dataset.json"), "{\"name\": 1");
  expect_error([&] { read_dataset_info(t.path.string()); }, {"dataset.json", "invalid JSON"});
}

TEST(Convert, ScanNetAndS3disToLayout) {
  leseg::testing::TempDir t;
  make_scannet_scene(t.path / "scans", true);
  ConvertResult r = convert("scannet", (t.path / "scans").string(), t.file("out"));
  EXPECT_EQ(r.scenes, 1);
  EXPECT_EQ(r.views, 2);
  InspectReport ins = inspect(t.file("out"));
  EXPECT_EQ(ins.points, 6);
  ASSERT_EQ(ins.label_histogram.size(), 21u);
  EXPECT_EQ(ins.label_histogram[4], 2);   // chair
  EXPECT_EQ(ins.label_histogram[20], 2);  // ignore
  EXPECT_NE(ins.text.find("chair"), std::string::npos);
  fs::path ann = t.path / "s3" / "Area_5" / "hallway_1" / "Annotations";
  fs::create_directories(ann);
  write_bytes((ann / "wall_1.txt").string(), "0 0 0 1 1 1\n1 1 1 2 2 2\n");
  ConvertResult r2 = convert("s3dis", (t.path / "s3").string(), t.file("out3"));
  EXPECT_EQ(r2.scenes, 1);
  EXPECT_EQ(read_split(t.file("out3"), "val"), std::vector<std::string>{"Area_5_hallway_1"});
  expect_error([&] { convert("lidarzip", t.path.string(), t.file("o")); }, {"unknown format 'lidarzip'"});
}
