// SPDX-License-Identifier: Apache-2.0
// KITTI's 3x4 calibration contract: the folded (K, cam_to_world) projects every point exactly as
// P2 · R0_rect · Tr_velo_to_cam; P2's 3x3 part alone is off by fx·t_x/Z pixels. `--from kitti` on hand-built
// object and odometry layouts (the odometry one on the bundled SemanticKITTI scan when present).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <filesystem>

#include "io/convert.h"
#include "io/datasets/kitti.h"
#include "io/datasets/nuscenes.h"
#include "io/datasets/scene_io.h"
#include "io/formats/file_io.h"
#include "io/formats/image.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;
using leseg::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// KITTI object training/calib/000000.txt (the 2011_09_26 calibration).
const char* kObjectCalib =
    "P0: 7.215377e+02 0.0 6.095593e+02 0.0 0.0 7.215377e+02 1.728540e+02 0.0 0.0 0.0 1.0 0.0\n"
    "P1: 7.215377e+02 0.0 6.095593e+02 -3.875744e+02 0.0 7.215377e+02 1.728540e+02 0.0 0.0 0.0 1.0 0.0\n"
    "P2: 7.215377e+02 0.0 6.095593e+02 4.485728e+01 0.0 7.215377e+02 1.728540e+02 2.163791e-01 0.0 0.0 1.0 2.745884e-03\n"
    "P3: 7.215377e+02 0.0 6.095593e+02 -3.395242e+02 0.0 7.215377e+02 1.728540e+02 2.199936e+00 0.0 0.0 1.0 2.729905e-03\n"
    "R0_rect: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01\n"
    "Tr_velo_to_cam: 7.533745e-03 -9.999714e-01 -6.166020e-04 -4.069766e-03 1.480249e-02 7.280733e-04 -9.998902e-01 -7.631618e-02 9.998621e-01 7.523790e-03 1.480755e-02 -2.717806e-01\n"
    "Tr_imu_to_velo: 9.999976e-01 7.553071e-04 -2.035826e-03 -8.086759e-01 -7.854027e-04 9.998898e-01 -1.482298e-02 3.195559e-01 2.024406e-03 1.482454e-02 9.998881e-01 -7.997231e-01\n";

// Direct P2 · R0_rect · Tr_velo_to_cam projection in double precision: (u, v, depth).
std::array<double, 3> direct(const std::map<std::string, std::vector<double>>& c, const double x[3]) {
  const auto &P = c.at("P2"), &R = c.at("R0_rect"), &T = c.at("Tr_velo_to_cam");
  double cam[3], rect[3], img[3];
  for (int i = 0; i < 3; ++i) cam[i] = T[size_t(4 * i)] * x[0] + T[size_t(4 * i + 1)] * x[1] + T[size_t(4 * i + 2)] * x[2] + T[size_t(4 * i + 3)];
  for (int i = 0; i < 3; ++i) rect[i] = R[size_t(3 * i)] * cam[0] + R[size_t(3 * i + 1)] * cam[1] + R[size_t(3 * i + 2)] * cam[2];
  for (int i = 0; i < 3; ++i) img[i] = P[size_t(4 * i)] * rect[0] + P[size_t(4 * i + 1)] * rect[1] + P[size_t(4 * i + 2)] * rect[2] + P[size_t(4 * i + 3)];
  return {img[0] / img[2], img[1] / img[2], img[2]};
}

std::vector<float> test_points() {  // velodyne frame: x forward, y left, z up; 3 .. 40 m ahead
  std::vector<float> p;
  for (float d : {3.0f, 5.0f, 10.0f, 40.0f})
    for (float y : {-2.0f, 0.0f, 1.5f})
      for (float z : {-1.5f, 0.0f, 0.5f}) p.insert(p.end(), {d, y, z});
  return p;
}

}  // namespace

TEST(KittiCalib, FoldedProjectionEqualsP2R0Tr) {
  TempDir t;
  write_file_text(t.file("calib.txt"), kObjectCalib);
  auto c = read_kitti_calib_entries(t.file("calib.txt"));
  KittiCamera cam = kitti_camera(c, t.file("calib.txt"));
  FoldedCamera f = fold_projection(cam.P, cam.world_to_rect);
  std::vector<float> pts = test_points();
  const int64_t n = int64_t(pts.size() / 3);
  Projection pr = project_points(Tensor::from_vector(pts, Shape{n, 3}), f.intrinsics, f.cam_to_world, 375, 1242, 0.1f);
  // The 3x3-only projection a user gets by copying P2[:, :3] (world_to_rect as the extrinsic).
  std::vector<float> w2r(cam.world_to_rect.begin(), cam.world_to_rect.end());
  Tensor naive_c2w = inverse4x4(Tensor::from_vector(w2r, Shape{4, 4}));
  Projection naive = project_points(Tensor::from_vector(pts, Shape{n, 3}), f.intrinsics, naive_c2w, 375, 1242, 0.1f);
  double worst = 0, naive_at_5m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x[3] = {pts[size_t(3 * i)], pts[size_t(3 * i + 1)], pts[size_t(3 * i + 2)]};
    auto d = direct(c, x);
    worst = std::max({worst, std::abs(pr.u.data<float>()[i] - d[0]), std::abs(pr.v.data<float>()[i] - d[1])});
    EXPECT_NEAR(pr.depth.data<float>()[i], d[2], 1e-4);
    if (x[0] == 5.0 && x[1] == 0.0 && x[2] == 0.0) naive_at_5m = d[0] - naive.u.data<float>()[i];
  }
  EXPECT_LT(worst, 2e-3) << "folded projection vs P2 · R0_rect · Tr, worst pixel error";
  // P2's fourth column: t_x = 44.857 / 721.5 = 6.2 cm, so the 3x3-only projection is ~ fx t_x / Z + cx t_z / Z px off.
  // (p0 - cx t_z) / Z = (44.857 - 1.674) / 4.73 = 9.13 px for the point 5 m ahead of the velodyne (4.73 m in front
  // of the camera, which sits 0.27 m ahead of it); ~17 px at 2.6 m.
  EXPECT_NEAR(naive_at_5m, 43.183 / 4.7275, 0.05);
  std::printf("[kitti] folded worst error %.2e px; P2 3x3-only error at 5 m: %.2f px\n", worst, naive_at_5m);
}

TEST(KittiCalib, ErrorsNameTheFileAndEntry) {
  TempDir t;
  write_file_text(t.file("no_p2.txt"), "P0: 1 0 0 0 0 1 0 0 0 0 1 0\nTr: 1 0 0 0 0 1 0 0 0 0 1 0\n");
  expect_error([&] { kitti_camera(read_kitti_calib_entries(t.file("no_p2.txt")), t.file("no_p2.txt")); }, {"no_p2.txt", "P2"});
  write_file_text(t.file("no_tr.txt"), "P2: 1 0 0 0 0 1 0 0 0 0 1 0\n");
  expect_error([&] { kitti_camera(read_kitti_calib_entries(t.file("no_tr.txt")), t.file("no_tr.txt")); }, {"no_tr.txt", "Tr_velo_to_cam"});
  write_file_text(t.file("bad.txt"), "P2: 1 0 0 0 0 1 0 0 0 0 1\nTr: 1 0 0 0 0 1 0 0 0 0 1 0\n");
  expect_error([&] { kitti_camera(read_kitti_calib_entries(t.file("bad.txt")), t.file("bad.txt")); }, {"bad.txt", "P2 has 11 values"});
  write_file_text(t.file("nan.txt"), "P2: 1 0 0 x 0 1 0 0 0 0 1 0\n");
  expect_error([&] { read_kitti_calib_entries(t.file("nan.txt")); }, {"nan.txt", "line 1", "'x'"});
}

TEST(KittiConvert, ObjectLayoutPairsScanWithImage2) {
  TempDir t;
  fs::path tr = t.path / "kitti" / "training";
  for (const char* s : {"velodyne", "image_2", "calib"}) fs::create_directories(tr / s);
  std::vector<float> pts = test_points(), raw;
  for (size_t i = 0; i < pts.size() / 3; ++i) raw.insert(raw.end(), {pts[3 * i], pts[3 * i + 1], pts[3 * i + 2], 0.5f});
  write_file_bytes((tr / "velodyne" / "000000.bin").string(), raw.data(), raw.size() * 4);
  write_file_bytes((tr / "velodyne" / "000001.bin").string(), raw.data(), raw.size() * 4);  // no image: skipped
  write_png_rgb((tr / "image_2" / "000000.png").string(), Tensor::zeros(Shape{375, 1242, 3}, DType::u8));
  write_file_text((tr / "calib" / "000000.txt").string(), kObjectCalib);
  ConvertResult r = convert("kitti", (t.path / "kitti").string(), (t.path / "out").string());
  EXPECT_EQ(r.scenes, 1);
  EXPECT_EQ(r.views, 1);
  EXPECT_NE(r.str().find("1 scans without an image_2 file skipped"), std::string::npos) << r.str();
  Scene s = read_scene((t.path / "out" / "scenes" / "training_000000").string());
  ASSERT_EQ(s.views.size(), 1u);
  ASSERT_TRUE(s.intensity.defined());
  auto c = read_kitti_calib_entries((tr / "calib" / "000000.txt").string());
  const int64_t n = s.num_points();
  Projection pr = project_points(s.coords, s.views[0].intrinsics, s.views[0].cam_to_world, 375, 1242, 0.1f);
  for (int64_t i = 0; i < n; ++i) {
    const double x[3] = {s.coords.data<float>()[3 * i], s.coords.data<float>()[3 * i + 1], s.coords.data<float>()[3 * i + 2]};
    auto d = direct(c, x);
    EXPECT_NEAR(pr.u.data<float>()[i], d[0], 5e-3);  // through pose.txt / intrinsic.txt (9 digits)
    EXPECT_NEAR(pr.v.data<float>()[i], d[1], 5e-3);
  }
}

TEST(KittiConvert, OdometryLayoutOnTheBundledSemanticKittiScan) {
  LESEG_REQUIRE_SHARED_DATA(kitti, "semantickitti");
  TempDir t;
  fs::path sq = t.path / "sequences" / "00";
  for (const char* s : {"velodyne", "labels", "image_2"}) fs::create_directories(sq / s);
  fs::copy_file(fs::path(kitti) / "sequences/00/velodyne/000000.bin", sq / "velodyne" / "000000.bin");
  fs::copy_file(fs::path(kitti) / "sequences/00/labels/000000.label", sq / "labels" / "000000.label");
  // odometry sequence 00's calib.txt P2 and Tr (velodyne -> rectified camera 0)
  write_file_text((sq / "calib.txt").string(),
                  "P2: 7.188560e+02 0.0 6.071928e+02 4.538225e+01 0.0 7.188560e+02 1.852157e+02 -1.130887e-01 0.0 0.0 1.0 3.779761e-03\n"
                  "Tr: 4.276802e-04 -9.999672e-01 -8.084491e-03 -1.198459e-02 -7.210626e-03 8.081198e-03 -9.999413e-01 -5.403984e-02 9.999738e-01 4.859485e-04 -7.206933e-03 -2.921968e-01\n");
  write_png_rgb((sq / "image_2" / "000000.png").string(), Tensor::zeros(Shape{376, 1241, 3}, DType::u8));
  ConvertResult r = convert("kitti", t.path.string(), (t.path / "out").string());
  EXPECT_EQ(r.scenes, 1);
  Scene s = read_scene((t.path / "out" / "scenes" / "00_000000").string());
  ASSERT_EQ(s.views.size(), 1u);
  ASSERT_TRUE(s.labels.defined());
  Projection pr = project_points(s.coords, s.views[0].intrinsics, s.views[0].cam_to_world, 376, 1241);
  std::printf("[kitti] odometry 00/000000: %lld of %lld points land in image_2\n", (long long)pr.count, (long long)s.num_points());
  EXPECT_GT(pr.count, 10000);  // the front camera sees a sizeable share of a 124,668-point scan
  EXPECT_LT(pr.count, s.num_points() / 2);
}
