// SPDX-License-Identifier: Apache-2.0
// The shared real samples (skip visibly when absent): SemanticKITTI scan with mapped labels, the nuScenes
// sweep with six calibrated cameras and the pairing fixture, and conversion of both to our layout.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "io/convert.h"
#include "io/datasets/label_maps.h"
#include "io/datasets/nuscenes.h"
#include "io/datasets/scene_io.h"
#include "io/datasets/semantickitti.h"
#include "io/formats/image.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;

TEST(SemanticKitti, RealScanHistogram) {
  LESEG_REQUIRE_SHARED_DATA(dir, "semantickitti");
  std::map<int, int> lm = read_learning_map_yaml(dir + "/semantic-kitti.yaml");
  KittiReport rep;
  Scene s = read_semantickitti_scan(dir + "/sequences/00/velodyne/000000.bin", dir + "/sequences/00/labels/000000.label", lm, &rep);
  ASSERT_EQ(s.num_points(), 124668);
  EXPECT_EQ(rep.points.nan_dropped, 0);
  EXPECT_EQ(rep.unknown_raw_labels, 0);
  std::vector<int64_t> hist(20, 0);
  for (int32_t l : s.labels.to_vector<int32_t>()) {
    ASSERT_TRUE(l >= -1 && l < 19) << l;
    ++hist[size_t(l + 1)];
  }
  const auto& names = semantickitti_classes();
  auto count = [&](const std::string& n) {
    for (size_t c = 0; c < names.size(); ++c)
      if (names[c] == n) return hist[c + 1];
    return int64_t(-1);
  };
  for (const char* n : {"road", "building", "vegetation", "car"}) EXPECT_GT(count(n), 1000) << n;
  EXPECT_LT(hist[0], s.num_points() / 4) << "too many ignored points";
  std::vector<float> it = s.intensity.to_vector<float>();
  float mx = *std::max_element(it.begin(), it.end());
  EXPECT_GT(mx, 0.1f);
  EXPECT_LE(mx, 1.0f);
  std::printf("road %lld building %lld vegetation %lld car %lld ignore %lld\n", (long long)count("road"),
              (long long)count("building"), (long long)count("vegetation"), (long long)count("car"), (long long)hist[0]);
}

TEST(NuScenes, SampleCamerasAndPairing) {
  LESEG_REQUIRE_SHARED_DATA(dir, "nuscenes-sample");
  ReadReport rep;
  Scene s = read_nuscenes_sample(dir, /*load_images=*/true, &rep);
  ASSERT_EQ(rep.points_in_file, 34688);
  EXPECT_EQ(s.num_points(), 34688 - rep.nan_dropped);
  ASSERT_EQ(s.views.size(), 6u);
  std::vector<float> xyz = s.coords.to_vector<float>();
  int64_t total = 0;
  for (const View& v : s.views) {
    ASSERT_EQ(v.height(), 900);
    ASSERT_EQ(v.width(), 1600);
    Projection p = project_points(s.coords, v.intrinsics, v.cam_to_world, v.height(), v.width(), 1.0f);
    // README: about 3,000-4,800 points land in each image (its rounded range; CAM_BACK gives 4,822 here)
    EXPECT_GE(p.count, 2900) << v.name;
    EXPECT_LE(p.count, 5000) << v.name;
    total += p.count;
    // Image content: points low in the lidar frame (ground, z < -1.2 m; the lidar sits ~1.8 m up) must
    // land below the horizon (lower part of the image), points high above it (z > 1 m) mostly above
    // the ground ones.
    std::vector<float> vv = p.v.to_vector<float>();
    std::vector<bool> ok = p.valid.to_vector<bool>();
    int64_t ground = 0, ground_low = 0;
    double v_ground = 0, v_high = 0;
    int64_t high = 0;
    for (size_t i = 0; i < ok.size(); ++i) {
      if (!ok[i]) continue;
      float z = xyz[3 * i + 2];
      if (z < -1.2f) { ++ground; ground_low += vv[i] > 450; v_ground += vv[i]; }
      if (z > 1.0f) { ++high; v_high += vv[i]; }
    }
    ASSERT_GT(ground, 100) << v.name;
    EXPECT_GT(ground_low, ground * 95 / 100) << v.name << ": ground points above the image horizon";
    if (high > 20) {
      EXPECT_LT(v_high / double(high), v_ground / double(ground)) << v.name;
    }
  }
  // every camera sees a different part: together more than a third of the sweep is paired
  EXPECT_GT(total, 18000);
}

TEST(NuScenes, PairingMatchesBruteForceChain) {
  LESEG_REQUIRE_SHARED_DATA(dir, "nuscenes-sample");
  NuScenesCalibration cal = read_nuscenes_calibration(dir + "/calibration.txt");
  Scene s = read_nuscenes_sample(dir, false);
  ASSERT_EQ(cal.cameras.size(), 6u);
  // brute force: apply lidar2cam directly (no inverse round trip) and compare
  for (size_t c = 0; c < cal.cameras.size(); ++c) {
    std::vector<float> T = cal.cameras[c].lidar2cam.to_vector<float>(), K = cal.cameras[c].cam2img.to_vector<float>();
    Projection p = project_points(s.coords, s.views[c].intrinsics, s.views[c].cam_to_world, 900, 1600, 1.0f);
    std::vector<float> u = p.u.to_vector<float>(), d = p.depth.to_vector<float>();
    std::vector<float> xyz = s.coords.to_vector<float>();
    for (size_t i = 0; i < xyz.size() / 3; i += 50) {
      double X = T[0] * xyz[3 * i] + T[1] * xyz[3 * i + 1] + T[2] * xyz[3 * i + 2] + T[3];
      double Z = T[8] * xyz[3 * i] + T[9] * xyz[3 * i + 1] + T[10] * xyz[3 * i + 2] + T[11];
      ASSERT_NEAR(d[i], Z, 1e-3 + 1e-5 * std::abs(Z)) << "camera " << c << " point " << i;
      if (Z > 1) {
        ASSERT_NEAR(u[i], K[0] * X / Z + K[2], 0.05 + 1e-4 * std::abs(u[i])) << "camera " << c << " point " << i;
      }
    }
  }
}

TEST(Convert, RealSamplesToLayoutAndInspect) {
  LESEG_REQUIRE_SHARED_DATA(data, "");
  leseg::testing::TempDir out;
  if (std::filesystem::exists(data + "/semantickitti")) {
    ConvertResult r = convert("semantickitti", data + "/semantickitti", out.file("kitti"));
    EXPECT_EQ(r.scenes, 1);
    EXPECT_EQ(r.points, 124668);
    InspectReport ins = inspect(out.file("kitti"));
    EXPECT_EQ(ins.points, 124668);
    ASSERT_EQ(ins.label_histogram.size(), 20u);
    EXPECT_GT(ins.label_histogram[8], 1000);  // road
    EXPECT_NE(ins.text.find("road"), std::string::npos);
    std::printf("%s", ins.text.c_str());
  }
  if (std::filesystem::exists(data + "/nuscenes-sample")) {
    ConvertResult r = convert("nuscenes", data + "/nuscenes-sample", out.file("nus"));
    EXPECT_EQ(r.views, 6);
    Scene back = read_scene(out.file("nus") + "/scenes/nuscenes-sample");
    ASSERT_EQ(back.views.size(), 6u);
    EXPECT_EQ(back.views[0].image.shape(), (Shape{900, 1600, 3}));
    InspectReport ins = inspect(out.file("nus"));
    EXPECT_EQ(ins.views, 6);
    EXPECT_NE(ins.text.find("segment.npy (labels)"), std::string::npos) << ins.text;  // nuScenes sample has no labels
  }
}
