// SPDX-License-Identifier: Apache-2.0
// SPVCNN: per-point 480-d output, backward reaches every parameter, the point -> coarse voxel index against a
// brute-force lookup, the voxelised-input overload, determinism, input checks.
#include <gtest/gtest.h>

#include <set>

#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "models/spvcnn.h"
#include "tests/models/tiny_inputs.h"

namespace leseg::models {
namespace {

using leseg::testing::all_finite;
using leseg::testing::max_abs;
using leseg::testing::tiny_coords;

using leseg::testing::Points;
using leseg::testing::tiny_points;

SPVCNNConfig small_config(DType dt = DType::f32) {
  SPVCNNConfig c;
  c.in_channels = 4;
  c.voxel_size = 0.1;
  c.dtype = dt;
  c.seed = 2;
  return c;
}

TEST(SPVCNN, ForwardBackward) {
  SPVCNN net(small_config());
  Points in = tiny_points(90, 4, 0.1);
  std::vector<StageTrace> trace;
  Tensor y = net.forward(in.points, in.batch, in.feats, &trace);
  ASSERT_EQ(y.shape(), (Shape{in.points.size(0), 480}));
  EXPECT_TRUE(all_finite(y));
  EXPECT_GT(max_abs(y), 1e-3);
  for (const auto& t : trace) EXPECT_GE(t.rows, 3) << t.name;
  ASSERT_FALSE(trace.empty());
  EXPECT_EQ(trace.back().channels, 480);
  Tensor r = Tensor::randn(y.shape(), 5);
  sum(mul(y, r)).backward();
  int64_t checked = 0;
  for (const auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << "no gradient for " << name;
    EXPECT_TRUE(all_finite(p.grad())) << name;
    EXPECT_GT(max_abs(p.grad()), 0.0) << "zero gradient for " << name;
    ++checked;
  }
  EXPECT_GT(checked, 60);
}

TEST(SPVCNN, ParameterNamesFollowPCSeg) {
  SPVCNN net(small_config());
  std::set<std::string> names;
  for (const auto& [n, _] : net.named_parameters()) names.insert(n);
  for (const char* n : {"stem.0.kernel", "stem.1.weight", "stem.3.kernel", "stem.4.bias", "stage1.0.net.0.kernel",
                        "stage1.1.net.0.kernel", "stage1.1.net.3.kernel", "stage2.1.downsample.0.kernel",
                        "up1.0.net.0.kernel", "up1.1.0.downsample.1.weight", "up4.1.1.net.4.weight",
                        "point_transforms.0.0.weight", "point_transforms.2.1.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("stage1.1.downsample.0.kernel"));  // 32 -> 32: identity residual
}

TEST(SPVCNN, PointVoxelIndexMatchesBruteForce) {
  const double vs = 0.1;
  SPVCNN net(small_config());
  Points in = tiny_points(80, 4, vs);
  Voxelized vox = voxelize(in.points, in.batch, in.feats, vs, VoxelReduce::Mean);
  net.forward(vox, in.points, in.batch);  // builds the strides 2..16 and their maps
  CoordinateManager& mgr = *vox.voxels.manager();
  const auto p = in.points.to_vector<float>();
  const auto b = in.batch.to_vector<int32_t>();
  for (int32_t s : {1, 2, 4, 8, 16}) {
    Tensor idx = point_voxel_index(mgr, vox.inverse, s);
    ASSERT_EQ(idx.dtype(), DType::i64);
    const auto got = idx.to_vector<int64_t>();
    const auto set = mgr.find(s);
    ASSERT_TRUE(set);
    const auto c = set->coords.to_vector<int32_t>();
    for (size_t i = 0; i < b.size(); ++i) {
      int32_t want[4] = {b[i], 0, 0, 0};
      for (int a = 0; a < 3; ++a) {
        const int32_t v = int32_t(std::floor(p[3 * i + a] / vs));
        want[1 + a] = int32_t(std::floor(double(v) / s)) * s;
      }
      int64_t row = -1;
      for (int64_t r = 0; r < set->size(); ++r)
        if (c[4 * r] == want[0] && c[4 * r + 1] == want[1] && c[4 * r + 2] == want[2] && c[4 * r + 3] == want[3]) row = r;
      ASSERT_GE(row, 0);
      ASSERT_EQ(got[i], row) << "point " << i << " stride " << s;
    }
  }
  EXPECT_THROW(point_voxel_index(mgr, vox.inverse, 32), Error);  // never down-sampled to 32
}

// The device formulation (no host copy of the maps: what CUDA runs) equals the host spec at every stride, and marks
// an out-of-range inverse entry with -1 for the device check.
TEST(SPVCNN, ComposedPointVoxelIndexMatchesTheSpec) {
  const double vs = 0.1;
  SPVCNN net(small_config());
  Points in = tiny_points(80, 4, vs);
  Voxelized vox = voxelize(in.points, in.batch, in.feats, vs, VoxelReduce::Mean);
  net.forward(vox, in.points, in.batch);
  CoordinateManager& mgr = *vox.voxels.manager();
  for (int32_t s : {1, 2, 4, 8, 16})
    EXPECT_EQ(point_voxel_index_composed(mgr, vox.inverse, s).to_vector<int64_t>(),
              point_voxel_index_spec(mgr, vox.inverse, s).to_vector<int64_t>())
        << "stride " << s;
  for (int32_t s : {1, 4, 16})  // the default CPU path is the composed one, checked
    EXPECT_EQ(point_voxel_index(mgr, vox.inverse, s).to_vector<int64_t>(),
              point_voxel_index_spec(mgr, vox.inverse, s).to_vector<int64_t>())
        << "stride " << s;
  std::vector<int32_t> bad = vox.inverse.to_vector<int32_t>();
  bad[3] = int32_t(mgr.find(1)->size());  // one past the last voxel
  const auto got = point_voxel_index_composed(mgr, Tensor::from_vector(bad, Shape{int64_t(bad.size())}), 4)
                       .to_vector<int64_t>();
  EXPECT_EQ(got[3], -1);
  EXPECT_GE(got[4], 0);
  // The default CPU path finds it and raises the spec's error, naming the point.
  try {
    point_voxel_index(mgr, Tensor::from_vector(bad, Shape{int64_t(bad.size())}), 4);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inverse[3]"), std::string::npos) << e.what();
  }
}

TEST(SPVCNN, VoxelisedOverloadAndDeterminism) {
  Points in = tiny_points(70, 4, 0.1);
  SPVCNN a(small_config()), b(small_config());
  Tensor ya = a.forward(in.points, in.batch, in.feats);
  Voxelized vox = voxelize(in.points, in.batch, in.feats, 0.1, VoxelReduce::Mean);
  Tensor yb = b.forward(vox, in.points, in.batch);
  EXPECT_EQ(ya.to_vector<float>(), yb.to_vector<float>());
  SPVCNNConfig other = small_config();
  other.seed = 3;
  SPVCNN c(other);
  EXPECT_NE(ya.to_vector<float>(), c.forward(in.points, in.batch, in.feats).to_vector<float>());
}

TEST(SPVCNN, InputChecks) {
  SPVCNN net(small_config());
  Points in = tiny_points(40, 3, 0.1);
  EXPECT_THROW(net.forward(in.points, in.batch, in.feats), Error);  // 3 channels for a 4-channel model
  Points ok = tiny_points(40, 4, 0.1);
  EXPECT_THROW(net.forward(ok.points.to(DType::f64), ok.batch, ok.feats), Error);
}

}  // namespace
}  // namespace leseg::models
