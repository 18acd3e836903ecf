// SPDX-License-Identifier: Apache-2.0
// Point projection: a hand-made camera with known pixels, and random points vs an independent Eigen
// reference of the same rule (in-image test with rounding, depth test, LiDAR min depth).
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/project/project.h"

namespace lk = leseg::kernels;

TEST(Project, HandMadeCamera) {
  lk::ProjectParams p;  // identity world_to_cam
  p.fx = 100; p.fy = 100; p.cx = 4; p.cy = 3; p.height = 7; p.width = 9;
  // (0,0,2) -> (4,3); (0.02,0.02,1) -> (6,5); x = 0.05*2 -> u = 9 outside (W-1 = 8); behind camera.
  std::vector<float> pts = {0, 0, 2, 0.02f, 0.02f, 1, 0.1f, 0, 2, 0, 0, -1, -0.0449f, -0.0299f, 1};
  std::vector<float> depth(7 * 9, 0.f);
  depth[3 * 9 + 4] = 2.03f;  // within 5 cm of Z = 2
  depth[5 * 9 + 6] = 1.2f;   // 20 cm off: rejected
  depth[0] = 1.f;
  std::vector<int32_t> pix(5);
  std::vector<float> z(5);
  lk::project_points_cpu(pts.data(), 5, p, nullptr, pix.data(), z.data());
  EXPECT_EQ(pix, (std::vector<int32_t>{3 * 9 + 4, 5 * 9 + 6, -1, -1, 0}));
  EXPECT_FLOAT_EQ(z[0], 2.f);
  lk::project_points_cpu(pts.data(), 5, p, depth.data(), pix.data(), nullptr);
  EXPECT_EQ(pix, (std::vector<int32_t>{3 * 9 + 4, -1, -1, -1, 0}));
  p.min_depth = 1.5f;  // LiDAR-style
  lk::project_points_cpu(pts.data(), 5, p, nullptr, pix.data(), nullptr);
  EXPECT_EQ(pix, (std::vector<int32_t>{3 * 9 + 4, -1, -1, -1, -1}));
  p.width = 0;
  EXPECT_THROW(lk::project_points_cpu(pts.data(), 5, p, nullptr, pix.data(), nullptr), std::invalid_argument);
}

TEST(Project, RandomPointsMatchEigenReference) {
  std::mt19937_64 g(11);
  std::uniform_real_distribution<float> U(-3.f, 3.f);
  const int H = 31, W = 47, N = 4000;
  Eigen::Matrix3d R = Eigen::AngleAxisd(0.3, Eigen::Vector3d(0.2, 1, 0.1).normalized()).toRotationMatrix();
  Eigen::Vector3d t(0.1, -0.2, 3.0);
  lk::ProjectParams p;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) p.world_to_cam[4 * r + c] = R(r, c);
    p.world_to_cam[4 * r + 3] = t[r];
  }
  p.fx = 30; p.fy = 28; p.cx = 23.3; p.cy = 15.1; p.height = H; p.width = W; p.depth_tol = 0.3f;
  std::vector<float> pts(3 * N), depth(H * W);
  for (auto& v : pts) v = U(g);
  for (auto& v : depth) v = 1.f + float(g() % 8) * 0.5f;
  depth[5] = 0.f;
  std::vector<int32_t> pix(N);
  lk::project_points_cpu(pts.data(), N, p, depth.data(), pix.data(), nullptr);
  int kept = 0, mism = 0;
  for (int i = 0; i < N; ++i) {
    Eigen::Vector3d X = R * Eigen::Vector3d(pts[3 * i], pts[3 * i + 1], pts[3 * i + 2]) + t;
    int want = -1;
    if (X.z() > 0) {
      double u = std::floor(p.fx * X.x() / X.z() + p.cx + 0.5), v = std::floor(p.fy * X.y() / X.z() + p.cy + 0.5);
      if (u >= 0 && u <= W - 1 && v >= 0 && v <= H - 1) {
        int px = int(v) * W + int(u);
        if (depth[px] > 0 && std::fabs(depth[px] - X.z()) <= 0.3) want = px;
      }
    }
    kept += want >= 0;
    if (pix[i] != want && mism++ < 5) ADD_FAILURE() << "point " << i << " got " << pix[i] << " want " << want;
  }
  EXPECT_EQ(mism, 0);
  EXPECT_GT(kept, 50);
}
