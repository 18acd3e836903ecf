// SPDX-License-Identifier: Apache-2.0
// MinkUNet (MinkowskiEngine Res16UNet family, as in CLIP2Scene model/minkunet.py; REFERENCE-CODE §1.3).
//   conv0p1s1 (k = stem_kernel) BN ReLU                                  -> p1   (INIT_DIM)
//   4 x encoder: conv k2 s2 + BN + ReLU (channels kept), BasicBlocks to PLANES[i], i = 0..3 -> p2, p4, p8, p16
//   4 x decoder: transposed conv k2 s2 (reuses the cached down map, so it lands exactly on the finer set)
//                + BN + ReLU to PLANES[4 + i], concat [up, skip], BasicBlocks to PLANES[4 + i]   -> p8 .. p1
// Output: the last decoder's features (N, PLANES[7]) on the input's coordinates; heads are separate modules.
// BN momenta: `bn_momentum` (0.05) on the stem, stride and transposed BNs; `block_bn_momentum` (0.1) inside
// blocks (PyTorch convention new = (1 - m) old + m batch). Convs have no bias (ME default).
// Parameter names follow ME ("conv0p1s1.kernel", "block1.0.conv1.kernel", "bntr4.running_mean", ...).
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "models/model_info.h"
#include "models/sparse_blocks.h"

namespace leseg::models {

struct MinkUNetConfig {
  std::array<int, 8> layers{1, 1, 1, 1, 1, 1, 1, 1};
  std::array<int64_t, 8> planes{32, 64, 128, 256, 128, 128, 96, 96};
  int64_t in_channels = 3;
  int64_t init_dim = 32;
  int stem_kernel = 3;             // CLIP2Scene configs: 3; MinkowskiEngine's example: 5
  double bn_momentum = 0.05;       // stem / stride / transposed BNs
  double block_bn_momentum = 0.1;  // BNs inside BasicBlocks
  DType dtype = DType::f32;
  uint64_t seed = 0;               // weight initialisation
  bool init_weights = true;        // false: conv kernels left zero (weights to be loaded; shapes only)
};

class MinkUNet : public Module {
 public:
  explicit MinkUNet(const MinkUNetConfig& cfg);
  std::string type_name() const override { return "MinkUNet"; }
  using Module::forward;
  // x: stride-1 SparseTensor with in_channels features -> (N, planes[7]) features on x's coordinates.
  // trace (optional) receives every stage output's stride, rows and channels.
  SparseTensor forward(const SparseTensor& x, std::vector<StageTrace>* trace = nullptr);
  SparseTensor operator()(const SparseTensor& x) { return forward(x); }
  int64_t out_channels() const { return cfg_.planes[7]; }
  const MinkUNetConfig& config() const { return cfg_; }
  std::vector<StageInfo> stages() const;
  // CUDA conv variant for every conv (CPU always runs the gather-GEMM-scatter twin).
  void set_conv_variant(ConvVariant v);

 private:
  MinkUNetConfig cfg_;
  std::shared_ptr<SparseConv3d> conv0_;
  std::shared_ptr<SparseBatchNorm> bn0_;
  std::array<std::shared_ptr<SparseConv3d>, 4> down_;
  std::array<std::shared_ptr<SparseBatchNorm>, 4> down_bn_;
  std::array<std::shared_ptr<SparseConv3d>, 4> up_;
  std::array<std::shared_ptr<SparseBatchNorm>, 4> up_bn_;
  std::array<std::shared_ptr<BlockSequence>, 8> blocks_;
};

}  // namespace leseg::models
