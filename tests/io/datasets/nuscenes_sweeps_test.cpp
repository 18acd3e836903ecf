// SPDX-License-Identifier: Apache-2.0
// nuScenes multi-sweep aggregation on the bundled keyframe (skips visibly when ../shared/data is absent). The
// bundled sample has no real previous sweeps, so two are made from the keyframe itself with known ego motions
// (the vehicle 1.2 m and 2.5 m behind, turned 2 and 5 degrees): each sweep file holds the keyframe's points as
// that earlier sensor saw them, so ego-motion compensation must put every sweep point back on its keyframe point.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "io/convert.h"
#include "io/datasets/nuscenes_sweeps.h"
#include "io/datasets/scene_io.h"
#include "io/formats/file_io.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::expect_error;
using leseg::testing::TempDir;
namespace fs = std::filesystem;

namespace {

using M4 = std::vector<double>;
M4 mul(const M4& a, const M4& b) {
  M4 c(16, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 4; ++k) c[size_t(4 * i + j)] += a[size_t(4 * i + k)] * b[size_t(4 * k + j)];
  return c;
}
M4 motion(double back_m, double yaw_deg) {  // in the ego frame: the earlier vehicle pose relative to the later one
  const double a = yaw_deg * M_PI / 180.0, c = std::cos(a), s = std::sin(a);
  return {c, -s, 0, -back_m, s, c, 0, 0.3 * back_m, 0, 0, 1, 0.01, 0, 0, 0, 1};
}

// Copies the sample, writes two synthetic sweeps (files + sweeps.txt); returns the copy's folder.
fs::path make_sweeps(const std::string& sample, const fs::path& dst, int64_t* key_points) {
  fs::create_directories(dst);
  std::string key;
  for (auto& e : fs::directory_iterator(sample)) {
    fs::copy_file(e.path(), dst / e.path().filename());
    if (e.path().filename().string().find("LIDAR_TOP") != std::string::npos) key = e.path().string();
  }
  NuScenesCalibration cal = read_nuscenes_calibration((dst / "calibration.txt").string());
  const M4 l2e = cal.lidar2ego.to_vector<double>(), e2g = cal.ego2global.to_vector<double>();
  Tensor raw = read_lidar_bin(key, 5);
  *key_points = raw.size(0);
  NuScenesSweepList list;
  const int64_t t_key = 1532402927647951;
  const double back[2] = {1.2, 2.5}, yaw[2] = {2.0, 5.0};
  for (int k = 0; k < 2; ++k) {
    NuScenesSweep s;
    s.file = "sweep" + std::to_string(k) + ".pcd.bin";
    s.timestamp_us = t_key - 50000 * (k + 1);
    s.lidar2ego = l2e;
    s.ego2global = mul(e2g, motion(back[k], yaw[k]));  // earlier ego pose in the world
    // Keyframe point p (keyframe lidar) as the sweep's sensor saw it: p_s = T_s^-1 p.
    const M4 T = sweep_to_keyframe(l2e, e2g, s.lidar2ego, s.ego2global);
    std::vector<float> out(raw.to_vector<float>());
    for (int64_t i = 0; i < raw.size(0); ++i) {
      float* p = out.data() + 5 * i;
      const double d[3] = {p[0] - T[3], p[1] - T[7], p[2] - T[11]};
      for (int r = 0; r < 3; ++r) p[r] = float(T[size_t(r)] * d[0] + T[size_t(4 + r)] * d[1] + T[size_t(8 + r)] * d[2]);  // R^T (p - t)
    }
    write_file_bytes((dst / s.file).string(), out.data(), out.size() * 4);
    list.sweeps.push_back(s);
  }
  write_nuscenes_sweeps((dst / "sweeps.txt").string(), list);
  return dst;
}

}  // namespace

TEST(NuScenesSweeps, EgoMotionCompensationPutsSweepsBackOnTheKeyframe) {
  LESEG_REQUIRE_SHARED_DATA(sample, "nuscenes-sample");
  TempDir t;
  int64_t nraw = 0;
  fs::path d = make_sweeps(sample, t.path / "sample", &nraw);
  ReadReport rr;
  SweepReport sr;
  Scene key = read_nuscenes_sample(d.string(), false);
  Scene s = read_nuscenes_multisweep(d.string(), 2, false, 1.0f, &rr, &sr);
  const int64_t nk = key.num_points();
  EXPECT_EQ(sr.sweeps_used, 2);
  EXPECT_EQ(s.num_points(), nk + sr.points_added);
  EXPECT_EQ(sr.points_added + sr.close_removed, 2 * nraw);  // the bundled sweep has no non-finite points
  ASSERT_TRUE(s.times.defined());
  const float* tm = s.times.data<float>();
  const float* c = s.coords.data<float>();
  const float* kc = key.coords.data<float>();
  for (int64_t i = 0; i < nk; ++i) ASSERT_EQ(tm[i], 0.0f);
  // Sweep points in file order, close ones dropped: walk the keyframe points and match.
  int64_t j = nk, matched = 0;
  double worst = 0;
  for (int sw = 0; sw < 2; ++sw) {
    // sweep sw's points, all with dt = 0.05 (sw + 1) s
    for (int64_t i = 0; i < nk && j < s.num_points() && std::abs(tm[j] - 0.05f * float(sw + 1)) < 1e-6f; ++i) {
      double e = std::abs(c[3 * j] - kc[3 * i]) + std::abs(c[3 * j + 1] - kc[3 * i + 1]) + std::abs(c[3 * j + 2] - kc[3 * i + 2]);
      if (e < 0.01) { worst = std::max(worst, e); ++matched; ++j; }
    }
  }
  EXPECT_EQ(j, s.num_points()) << "every sweep point lands on a keyframe point (worst L1 " << worst << " m)";
  EXPECT_EQ(matched, sr.points_added);
  EXPECT_LT(worst, 2e-3);
  std::printf("[nuscenes] keyframe %lld points + 2 sweeps -> %lld points (%lld within 1 m dropped); worst L1 %.1e m\n",
              (long long)nk, (long long)s.num_points(), (long long)sr.close_removed, worst);
  // Through `leseg data convert --from nuscenes --sweeps 2`: time.npy is written and read back.
  ConvertOptions o;
  o.sweeps = 2;
  ConvertResult r = convert("nuscenes", d.string(), (t.path / "out").string(), o);
  EXPECT_NE(r.str().find("2 of 2 sweeps aggregated"), std::string::npos) << r.str();
  Scene back = read_scene((t.path / "out" / "scenes" / "sample").string(), SceneReadOptions{true, false, false});
  ASSERT_TRUE(back.times.defined());
  EXPECT_EQ(back.times.numel(), s.num_points());
  EXPECT_EQ(back.views.size(), 6u);
}

TEST(NuScenesSweeps, MissingOrBadSweepListIsAClearError) {
  LESEG_REQUIRE_SHARED_DATA(sample, "nuscenes-sample");
  TempDir t;
  fs::path d = t.path / "s";
  fs::create_directories(d);
  for (auto& e : fs::directory_iterator(sample)) fs::copy_file(e.path(), d / e.path().filename());
  expect_error([&] { read_nuscenes_multisweep(d.string(), 3, false); }, {"sweeps.txt", "3 sweeps"});
  write_file_text((d / "sweeps.txt").string(), "a.pcd.bin 100 lidar2ego 1 2 3\n");
  expect_error([&] { read_nuscenes_multisweep(d.string(), 1, false); }, {"sweeps.txt", "line 1", "lidar2ego"});
  // keyframe alone: times are all 0
  Scene s = read_nuscenes_multisweep(d.string(), 0, false);
  EXPECT_EQ(s.times.numel(), s.num_points());
}
