// SPDX-License-Identifier: Apache-2.0
// The bundled mOSD Kinect frame as an RGB-D scene with its view (skips visibly without ../shared/data): the points
// re-project onto their own pixels through the view, and the 2D GT agrees with the 3D labels there.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "io/convert.h"
#include "io/datasets/mosd.h"
#include "io/datasets/nuscenes.h"
#include "io/datasets/scene_io.h"
#include "tests/io/formats/test_util.h"

using namespace leseg;
using namespace leseg::io;
using leseg::testing::TempDir;
namespace fs = std::filesystem;

TEST(Mosd, OrganisedFrameBecomesASceneWithItsView) {
  LESEG_REQUIRE_SHARED_DATA(dir, "pcl-mosd");
  Scene s = read_mosd_rgbd((fs::path(dir) / "test55.pcd").string());
  ASSERT_EQ(s.views.size(), 1u);
  const View& v = s.views[0];
  ASSERT_EQ(v.image.shape(), (Shape{480, 640, 3}));
  Projection pr = project_points(s.coords, v.intrinsics, v.cam_to_world, 480, 640, 0.01f);
  EXPECT_GT(double(pr.count), 0.999 * double(s.num_points()));  // a few border pixels land a hair outside [0, W-1]
  const int32_t* lab = s.labels.data<int32_t>();
  const int32_t* gt = v.gt_labels.data<int32_t>();
  int64_t agree = 0, labelled = 0;
  int64_t per_class[2] = {0, 0};
  for (int64_t i = 0; i < s.num_points(); ++i) {
    const int64_t u = std::lround(pr.u.data<float>()[i]), vv = std::lround(pr.v.data<float>()[i]);
    if (!pr.valid.data<bool>()[i]) continue;
    if (lab[i] >= 0) { ++labelled; ++per_class[lab[i]]; agree += gt[vv * 640 + u] == lab[i]; }
  }
  std::printf("[mosd] %lld points, %lld labelled (table %lld, object %lld), 2D/3D agreement %lld\n", (long long)s.num_points(),
              (long long)labelled, (long long)per_class[0], (long long)per_class[1], (long long)agree);
  EXPECT_GT(per_class[0], 1000);
  EXPECT_GT(per_class[1], 1000);
  EXPECT_GT(double(agree), 0.99 * double(labelled));  // Kinect intrinsics reproduce the organised pixel grid
  TempDir t;
  ConvertResult r = convert("mosd", dir, (t.path / "out").string());
  EXPECT_EQ(r.scenes, 2);
  EXPECT_EQ(r.views, 2);
  Scene back = read_scene((t.path / "out" / "scenes" / "test55").string());
  ASSERT_EQ(back.views.size(), 1u);
  EXPECT_TRUE(back.views[0].gt_labels.defined());
  EXPECT_TRUE(back.views[0].depth.defined());
}
