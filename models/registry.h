// SPDX-License-Identifier: Apache-2.0
// Name -> factory for the 3D backbones (`leseg model info NAME`, configs' `model.name`).
//   MinkUNet14A/14B/14C/14D, MinkUNet18A/18B/18D, MinkUNet34A/34B/34C   (REFERENCE-CODE §1.3 PLANES tables)
//   MinkUNet14/18/34                  MinkowskiEngine base PLANES (32,64,128,256,256,128,96,96)
//   MinkUNet14-C2S/18-C2S/34-C2S      CLIP2Scene base PLANES (32,64,128,256,128,128,96,96)
//   SPVCNN                            cs = [32,32,64,128,256,256,128,96,96], 480-d per-point output
// Every model is built from ModelOptions (input channels, stem kernel, BN momenta, dtype, seed).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/minkunet.h"
#include "models/spvcnn.h"

namespace leseg::models {

struct ModelOptions {
  int64_t in_channels = 3;
  int stem_kernel = 3;             // MinkUNet stem (MinkowskiEngine's example uses 5)
  double bn_momentum = 0.05;       // MinkUNet stem / stride / transposed BNs (SPVCNN: spvcnn_bn_momentum)
  double block_bn_momentum = 0.1;  // MinkUNet BNs inside blocks
  double spvcnn_bn_momentum = 0.1;
  double voxel_size = 0.1;         // SPVCNN
  DType dtype = DType::f32;
  uint64_t seed = 0;
  bool init_weights = true;  // false: no random initialisation of the conv kernels (model_info does this)
};

enum class ModelFamily { MinkUNet, SPVCNN };

struct ModelSpec {
  std::string name;
  ModelFamily family = ModelFamily::MinkUNet;
  MinkUNetConfig minkunet;  // layers / planes (MinkUNet family)
  std::string description;
};

// Every registered name, in a fixed order.
std::vector<std::string> model_names();
bool has_model(const std::string& name);
// The spec of `name`; unknown names throw listing the registered ones.
ModelSpec model_spec(const std::string& name);

// A 3D backbone: a MinkUNet (forward(SparseTensor) -> per-voxel features) or an SPVCNN (forward(points, batch,
// feats) -> per-point features). Exactly one of the two pointers is set; `module` is the same object.
struct Backbone {
  std::string name;
  ModelFamily family = ModelFamily::MinkUNet;
  std::shared_ptr<Module> module;
  std::shared_ptr<MinkUNet> minkunet;
  std::shared_ptr<SPVCNN> spvcnn;
  int64_t out_channels = 0;
  std::vector<StageInfo> stages() const;
};
Backbone create_backbone(const std::string& name, const ModelOptions& opts = {});

struct ModelInfo {
  std::string name, description;
  int64_t parameter_count = 0;
  int64_t in_channels = 0, out_channels = 0;
  std::vector<StageInfo> stages;
};
// Builds the model without random initialisation and reads its shapes.
ModelInfo model_info(const std::string& name, const ModelOptions& opts = {});
// Printable summary: name, parameter count, per-stage (stride, channels, blocks, parameters).
std::string model_summary(const ModelInfo& info);

}  // namespace leseg::models
