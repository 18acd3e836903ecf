// SPDX-License-Identifier: Apache-2.0
// SPVCNN (torchsparse / PCSeg model/spvcnn.py as used by CLIP2Scene; REFERENCE-CODE §1.3).
//   voxelise the points (mean of point features per voxel, voxel = floor(p / voxel_size))
//   stem: 2 x (conv3 + BN + ReLU) -> x0 (cs0);  z0 = trilinear(x0 -> points)
//   x1 = point_to_voxel(z0) at stride 1; 4 x [conv k2 s2 + BN + ReLU, 2 ResidualBlocks] -> x1..x4 (cs1..cs4)
//   z1 = trilinear(x4) + point_transforms[0](z0)                    (cs4 = 256)
//   y1 = point_to_voxel(z1) at stride 16; up1, up2 = [deconv k2 s2 + BN + ReLU, concat skip, 2 ResidualBlocks]
//   z2 = trilinear(y2) + point_transforms[1](z1)                    (cs6 = 128)
//   y3 = point_to_voxel(z2) at stride 4; up3, up4
//   z3 = trilinear(y4) + point_transforms[2](z2)                    (cs8 = 96)
// Output: concat(z1, z2, z3) per point, (N, cs4 + cs6 + cs8) = (N, 480). Heads are separate modules.
// point_to_voxel at stride s = mean of the point features over the stride-s voxel holding each point; the
// point -> voxel index is composed from the cached k2 s2 down maps (each finer voxel has exactly one parent).
// On CUDA that composition reads the maps on the host once per forward (3 small transfers).
// Parameter names follow PCSeg ("stem.0.kernel", "stage1.1.net.0.kernel", "up1.1.0.downsample.0.kernel",
// "point_transforms.0.0.weight", ...). Convs have no bias; point-branch Linears do. BN momentum 0.1 everywhere.
#pragma once
#include <array>
#include <memory>
#include <vector>

#include "models/model_info.h"
#include "models/sparse_blocks.h"

namespace leseg::models {

struct SPVCNNConfig {
  std::array<int64_t, 9> cs{32, 32, 64, 128, 256, 256, 128, 96, 96};
  int64_t in_channels = 4;   // e.g. xyz + intensity; 1 for intensity only (CLIP2Scene nuScenes)
  double voxel_size = 0.1;   // in the units of the point coordinates
  double bn_momentum = 0.1;
  DType dtype = DType::f32;
  uint64_t seed = 0;
  bool init_weights = true;  // false: conv kernels left zero (weights to be loaded; shapes only)
};

class SPVCNN : public Module {
 public:
  explicit SPVCNN(const SPVCNNConfig& cfg);
  std::string type_name() const override { return "SPVCNN"; }
  using Module::forward;
  // points (N, 3) positions, batch (N,) i32, feats (N, in_channels) -> (N, 480) per-point features.
  Tensor forward(const Tensor& points, const Tensor& batch, const Tensor& feats,
                 std::vector<StageTrace>* trace = nullptr);
  // The same with the voxelisation done by the caller: vox = voxelize(points, batch, feats, voxel_size, Mean).
  Tensor forward(const Voxelized& vox, const Tensor& points, const Tensor& batch,
                 std::vector<StageTrace>* trace = nullptr);
  int64_t out_channels() const { return cfg_.cs[4] + cfg_.cs[6] + cfg_.cs[8]; }
  const SPVCNNConfig& config() const { return cfg_; }
  std::vector<StageInfo> stages() const;
  void set_conv_variant(ConvVariant v) { models::set_conv_variant(*this, v); }

 private:
  struct Stage {
    std::shared_ptr<SparseConv3d> conv;
    std::shared_ptr<SparseBatchNorm> bn;
    std::shared_ptr<BasicBlock> res0, res1;
    std::shared_ptr<Module> root;
  };
  SparseTensor run_stage(const Stage& s, const SparseTensor& x, const SparseTensor* skip);

  SPVCNNConfig cfg_;
  std::shared_ptr<SparseConv3d> stem_conv0_, stem_conv1_;
  std::shared_ptr<SparseBatchNorm> stem_bn0_, stem_bn1_;
  std::shared_ptr<Module> stem_;
  std::array<Stage, 4> down_, up_;
  std::array<std::shared_ptr<Sequential>, 3> point_transforms_;
};

// Row of each point's voxel in the set at tensor stride `stride` of `manager`, composed from the point ->
// stride-1 voxel map `inverse` (N,) i32 and the cached k2 s2 down maps. (N,) i64 on the manager's device.
Tensor point_voxel_index(CoordinateManager& manager, const Tensor& inverse, int32_t stride);
// The formulation point_voxel_index uses (any device): composed from the cached kernel maps with no host copy; an
// invalid entry becomes -1, and on CUDA a device check records it for check_device_errors. On the CPU,
// point_voxel_index scans the result (host memory) and sends an invalid one to the spec, which throws naming the point
// and the stride.
Tensor point_voxel_index_composed(CoordinateManager& manager, const Tensor& inverse, int32_t stride);
// The spec on the CPU: a host loop over the points and the down maps (tests compare the composed form with it).
Tensor point_voxel_index_spec(CoordinateManager& manager, const Tensor& inverse, int32_t stride);

}  // namespace leseg::models
