// SPDX-License-Identifier: Apache-2.0
// DeepLabV3 (CNS's 2-D network, METHODS.md §1): a ResNet-18/34/50 backbone with replace-stride-with-dilation
// (output stride 8: layer3/layer4 dilated 2/4; 16: layer4 dilated 2), the DeepLabHead (ASPP: 1×1 branch,
// three 3×3 atrous branches at rates 12/24/36 for OS 8 or 6/12/18 for OS 16, image-pooling branch; 1×1
// projection + BN + ReLU + dropout 0.5; 3×3 conv + BN + ReLU), an optional 1×1 classifier, and bilinear
// upsampling (align_corners = false) of features and logits to the input crop.
// Parameter names follow torchvision's deeplabv3_resnet* state dict ("backbone.layer1.0.conv1.weight",
// "classifier.0.convs.4.1.weight", "classifier.4.bias"), so ImageNet / torchvision weights map one to one.
// Initialisation follows torchvision: backbone convs kaiming_normal(fan_out, relu), BN weight 1 / bias 0;
// head convs PyTorch's default (kaiming_uniform a = √5, bias U(±1/√fan_in)).
// Parameter counts: models::parameter_count (models/sparse_blocks.h).
// Unlike torchvision, BasicBlock (ResNet-18/34) accepts dilation (both 3×3 convs dilated, padding = dilation).
#pragma once
#include <memory>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "engine/ops/conv2d.h"
#include "engine/rng.h"

namespace leseg::models {

// Conv2d layer: weight (out, in, kh, kw), bias (out) optional.
class Conv2d : public Module {
 public:
  enum class Init { kaiming_normal_fan_out, pytorch_default };
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, bool bias,
         Init init, Generator& gen, DType dtype = DType::f32);
  std::string type_name() const override { return "Conv2d"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int64_t stride, padding, dilation;
};

// ResNet residual blocks (torchvision v1.5: the stride sits on the 3×3 conv).
class ResNetBlock : public Module {
 public:
  // bottleneck: 1×1 (in→planes) 3×3 (planes→planes, stride, dilation) 1×1 (planes→4·planes);
  // basic: 3×3 (in→planes, stride, dilation) 3×3 (planes→planes, dilation). downsample: 1×1 conv + BN.
  ResNetBlock(bool bottleneck, int64_t inplanes, int64_t planes, int64_t stride, int64_t dilation, bool downsample,
              Generator& gen, DType dtype);
  std::string type_name() const override { return bottleneck_ ? "Bottleneck" : "BasicBlock"; }
  Tensor forward(const Tensor& x) override;

 private:
  bool bottleneck_;
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNorm1d> bn1_, bn2_, bn3_;
  std::shared_ptr<Sequential> downsample_;
};

struct ResNetConfig {
  int depth = 50;                                 // 18, 34, 50
  std::vector<bool> dilate = {false, true, true};  // replace_stride_with_dilation for layer2..layer4
  int64_t in_channels = 3;
  DType dtype = DType::f32;
};

// torchvision ResNet without avgpool / fc. forward -> the layer4 map (N, 512·expansion, H/os, W/os).
class ResNet : public Module {
 public:
  ResNet(const ResNetConfig& cfg, Generator& gen);
  std::string type_name() const override { return "ResNet"; }
  Tensor forward(const Tensor& x) override;
  int64_t out_channels() const { return out_channels_; }
  int output_stride() const { return output_stride_; }

 private:
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm1d> bn1_;
  std::vector<std::shared_ptr<Sequential>> layers_;
  int64_t out_channels_ = 0;
  int output_stride_ = 32;
};

// Parameter count of torchvision's resnet{18,34,50} *including* the 1000-way fc (11,689,512 / 21,797,672 /
// 25,557,032) is ResNet(depth).parameter count + fc_parameters(depth).
int64_t resnet_fc_parameters(int depth, int64_t num_classes = 1000);

class ASPP : public Module {
 public:
  ASPP(int64_t in_channels, const std::vector<int64_t>& rates, int64_t out_channels, double dropout, Generator& gen,
       Generator* dropout_gen, DType dtype);
  std::string type_name() const override { return "ASPP"; }
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<Sequential> convs_, project_;
};

struct DeepLabV3Config {
  int depth = 50;          // ResNet-18 / 34 / 50
  int output_stride = 8;   // 8 or 16
  std::vector<int64_t> atrous_rates;  // empty: 12/24/36 (OS 8) or 6/12/18 (OS 16)
  int64_t in_channels = 3;
  int64_t aspp_channels = 256;  // = feature dimension
  int64_t num_classes = 21;     // 0: no classifier (logits undefined), features only
  double dropout = 0.5;         // after the ASPP projection
  bool upsample_features = true;  // false: only features_lowres (heads that are 1×1 / linear per pixel commute
                                  // with bilinear upsampling, so head(lowres) then upsample is exact and cheaper)
  DType dtype = DType::f32;
  uint64_t seed = 0;            // initialisation and dropout masks
};

struct DeepLabV3Output {
  Tensor features;         // (N, aspp_channels, H, W): head features upsampled to the input crop
                           // (undefined when !upsample_features)
  Tensor logits;           // (N, num_classes, H, W), undefined when num_classes == 0
  Tensor features_lowres;  // (N, aspp_channels, H/os, W/os) before upsampling
};

class DeepLabV3 : public Module {
 public:
  explicit DeepLabV3(const DeepLabV3Config& cfg);
  std::string type_name() const override { return "DeepLabV3"; }
  // images (N, in_channels, H, W) -> features and logits at (H, W).
  DeepLabV3Output run(const Tensor& images);
  Tensor forward(const Tensor& images) override;  // logits (or features when num_classes == 0)
  const DeepLabV3Config& config() const { return cfg_; }
  int64_t feature_dim() const { return cfg_.aspp_channels; }
  Generator& dropout_generator() { return dropout_gen_; }  // checkpointed by the regimes (bit-identical resume)
  const std::shared_ptr<ResNet>& backbone() const { return backbone_; }
  // Initialises the ResNet backbone from torchvision weights (ImageNet-pretrained resnet18/34/50, or a torchvision
  // deeplabv3 checkpoint): keys as torchvision names them, bare ("layer1.0.conv1.weight") or under "backbone.".
  // Every backbone parameter and BN buffer must be present with its shape (a clear error names the key); the
  // classification head ("fc.*") and other non-backbone keys are skipped. `source` names the file in errors.
  // Returns a one-line summary (loaded / skipped counts).
  std::string load_torchvision_backbone(const StateDict& sd, const std::string& source);

 private:
  DeepLabV3Config cfg_;
  Generator gen_, dropout_gen_;
  std::shared_ptr<ResNet> backbone_;
  std::shared_ptr<Sequential> classifier_;  // [ASPP, Conv3×3, BN, ReLU, (Conv1×1 classifier)]
};


}  // namespace leseg::models
