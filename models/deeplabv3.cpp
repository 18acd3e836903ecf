// SPDX-License-Identifier: Apache-2.0
#include "models/deeplabv3.h"

#include <cmath>

#include "engine/nn/init.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape_ops.h"

namespace leseg::models {
namespace {

std::shared_ptr<BatchNorm1d> bn(int64_t c, DType dtype) { return std::make_shared<BatchNorm1d>(c, 1e-5, 0.1, true, dtype); }

// Parameter-free wrappers so Sequential indices match torchvision's (ReLU, pooling occupy a slot).
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(int64_t s) : size_(s) {}
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, size_); }

 private:
  int64_t size_;
};

// ASPP image-pooling branch: [AdaptiveAvgPool2d(1), Conv1×1, BN, ReLU], then bilinear back to the map size.
class ASPPPooling : public Sequential {
 public:
  ASPPPooling(int64_t in, int64_t out, Generator& gen, DType dtype) {
    push_back(std::make_shared<AdaptiveAvgPool2d>(1));
    push_back(std::make_shared<Conv2d>(in, out, 1, 1, 0, 1, false, Conv2d::Init::pytorch_default, gen, dtype));
    push_back(bn(out, dtype));
    push_back(std::make_shared<ReLU>());
  }
  std::string type_name() const override { return "ASPPPooling"; }
  Tensor forward(const Tensor& x) override {
    return interpolate_bilinear(Sequential::forward(x), Size2(x.size(2), x.size(3)), false);
  }
};

std::shared_ptr<Sequential> conv_bn_relu(int64_t in, int64_t out, int64_t k, int64_t pad, int64_t dil, Generator& gen,
                                         DType dtype) {
  auto s = std::make_shared<Sequential>();
  s->push_back(std::make_shared<Conv2d>(in, out, k, 1, pad, dil, false, Conv2d::Init::pytorch_default, gen, dtype));
  s->push_back(bn(out, dtype));
  s->push_back(std::make_shared<ReLU>());
  return s;
}
}  // namespace

// ---- Conv2d ----
Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_, int64_t dilation_,
               bool with_bias, Init init, Generator& gen, DType dtype)
    : stride(stride_), padding(padding_), dilation(dilation_) {
  LESEG_CHECK(in >= 1 && out >= 1 && kernel >= 1, "Conv2d: in ", in, ", out ", out, ", kernel ", kernel, " must be >= 1");
  weight = register_parameter("weight", Tensor::empty(Shape{out, in, kernel, kernel}, dtype));
  if (init == Init::kaiming_normal_fan_out) {
    init::kaiming_normal_(weight, gen, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu);
  } else {
    init::kaiming_uniform_(weight, gen, std::sqrt(5.0));
  }
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty(Shape{out}, dtype));
    const double bound = 1.0 / std::sqrt(double(in * kernel * kernel));
    init::uniform_(bias, -bound, bound, gen);
  }
}
Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding, dilation); }

// ---- ResNet ----
ResNetBlock::ResNetBlock(bool bottleneck, int64_t inplanes, int64_t planes, int64_t stride, int64_t dilation,
                         bool downsample, Generator& gen, DType dtype)
    : bottleneck_(bottleneck) {
  using I = Conv2d::Init;
  const I k = I::kaiming_normal_fan_out;
  const int64_t expansion = bottleneck ? 4 : 1;
  if (bottleneck) {
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(inplanes, planes, 1, 1, 0, 1, false, k, gen, dtype));
    bn1_ = register_module("bn1", bn(planes, dtype));
    conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride, dilation, dilation, false, k,
                                                               gen, dtype));
    bn2_ = register_module("bn2", bn(planes, dtype));
    conv3_ = register_module("conv3", std::make_shared<Conv2d>(planes, planes * 4, 1, 1, 0, 1, false, k, gen, dtype));
    bn3_ = register_module("bn3", bn(planes * 4, dtype));
  } else {
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(inplanes, planes, 3, stride, dilation, dilation, false,
                                                               k, gen, dtype));
    bn1_ = register_module("bn1", bn(planes, dtype));
    conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, dilation, dilation, false, k, gen,
                                                               dtype));
    bn2_ = register_module("bn2", bn(planes, dtype));
  }
  if (downsample) {
    downsample_ = std::make_shared<Sequential>();
    downsample_->push_back(
        std::make_shared<Conv2d>(inplanes, planes * expansion, 1, stride, 0, 1, false, k, gen, dtype));
    downsample_->push_back(bn(planes * expansion, dtype));
    register_module("downsample", downsample_);
  }
}

Tensor ResNetBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  if (bottleneck_) out = bn3_->forward(conv3_->forward(relu(out)));
  Tensor identity = downsample_ ? downsample_->forward(x) : x;
  return relu(add(out, identity));
}

ResNet::ResNet(const ResNetConfig& cfg, Generator& gen) {
  std::vector<int> blocks;
  bool bottleneck = false;
  switch (cfg.depth) {
    case 18: blocks = {2, 2, 2, 2}; break;
    case 34: blocks = {3, 4, 6, 3}; break;
    case 50: blocks = {3, 4, 6, 3}; bottleneck = true; break;
    default: LESEG_FAIL("ResNet: depth ", cfg.depth, " not supported (18, 34, 50)");
  }
  LESEG_CHECK(cfg.dilate.size() == 3, "ResNet: replace_stride_with_dilation needs 3 flags (layer2..4), got ",
              cfg.dilate.size());
  const int64_t expansion = bottleneck ? 4 : 1;
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, 64, 7, 2, 3, 1, false,
                                                             Conv2d::Init::kaiming_normal_fan_out, gen, cfg.dtype));
  bn1_ = register_module("bn1", bn(64, cfg.dtype));
  int64_t inplanes = 64, dilation = 1;
  output_stride_ = 4;
  const int64_t planes[4] = {64, 128, 256, 512};
  for (int li = 0; li < 4; ++li) {
    int64_t stride = li == 0 ? 1 : 2;
    const int64_t previous_dilation = dilation;
    if (li > 0 && cfg.dilate[size_t(li - 1)]) {
      dilation *= stride;
      stride = 1;
    }
    output_stride_ *= int(stride);
    auto layer = std::make_shared<Sequential>();
    const bool down = stride != 1 || inplanes != planes[li] * expansion;
    layer->push_back(std::make_shared<ResNetBlock>(bottleneck, inplanes, planes[li], stride, previous_dilation, down,
                                                   gen, cfg.dtype));
    inplanes = planes[li] * expansion;
    for (int b = 1; b < blocks[size_t(li)]; ++b)
      layer->push_back(std::make_shared<ResNetBlock>(bottleneck, inplanes, planes[li], 1, dilation, false, gen, cfg.dtype));
    layers_.push_back(register_module("layer" + std::to_string(li + 1), layer));
  }
  out_channels_ = inplanes;
}

Tensor ResNet::forward(const Tensor& x) {
  LESEG_CHECK(x.ndim() == 4, "ResNet: input must be (N, C, H, W), got ", x.shape().str());
  Tensor h = relu(bn1_->forward(conv1_->forward(x)));
  h = max_pool2d(h, 3, 2, 1);
  for (auto& l : layers_) h = l->forward(h);
  return h;
}

int64_t resnet_fc_parameters(int depth, int64_t num_classes) {
  const int64_t c = depth == 50 ? 2048 : 512;
  return c * num_classes + num_classes;
}

// ---- ASPP ----
ASPP::ASPP(int64_t in, const std::vector<int64_t>& rates, int64_t out, double dropout, Generator& gen,
           Generator* dropout_gen, DType dtype) {
  convs_ = std::make_shared<Sequential>();  // a container here: its branches run side by side, not in sequence
  convs_->push_back(conv_bn_relu(in, out, 1, 0, 1, gen, dtype));
  for (int64_t r : rates) {
    LESEG_CHECK(r >= 1, "ASPP: atrous rate ", r, " must be >= 1");
    convs_->push_back(conv_bn_relu(in, out, 3, r, r, gen, dtype));
  }
  convs_->push_back(std::make_shared<ASPPPooling>(in, out, gen, dtype));
  register_module("convs", convs_);
  project_ = conv_bn_relu(out * int64_t(convs_->size()), out, 1, 0, 1, gen, dtype);
  project_->push_back(std::make_shared<Dropout>(dropout, dropout_gen));
  register_module("project", project_);
}

Tensor ASPP::forward(const Tensor& x) {
  std::vector<Tensor> branches;
  for (size_t i = 0; i < convs_->size(); ++i) branches.push_back((*convs_)[i]->forward(x));
  return project_->forward(concat(branches, 1));
}

// ---- DeepLabV3 ----
DeepLabV3::DeepLabV3(const DeepLabV3Config& cfg) : cfg_(cfg), gen_(cfg.seed), dropout_gen_(cfg.seed, 1) {
  LESEG_CHECK(cfg.output_stride == 8 || cfg.output_stride == 16, "DeepLabV3: output_stride ", cfg.output_stride,
              " not supported (8, 16)");
  LESEG_CHECK(cfg.aspp_channels >= 1 && cfg.num_classes >= 0, "DeepLabV3: aspp_channels ", cfg.aspp_channels,
              ", num_classes ", cfg.num_classes);
  ResNetConfig rc;
  rc.depth = cfg.depth;
  rc.dilate = cfg.output_stride == 8 ? std::vector<bool>{false, true, true} : std::vector<bool>{false, false, true};
  rc.in_channels = cfg.in_channels;
  rc.dtype = cfg.dtype;
  backbone_ = register_module("backbone", std::make_shared<ResNet>(rc, gen_));
  std::vector<int64_t> rates = cfg.atrous_rates;
  if (rates.empty()) rates = cfg.output_stride == 8 ? std::vector<int64_t>{12, 24, 36} : std::vector<int64_t>{6, 12, 18};
  cfg_.atrous_rates = rates;
  const int64_t C = cfg.aspp_channels;
  classifier_ = std::make_shared<Sequential>();
  classifier_->push_back(std::make_shared<ASPP>(backbone_->out_channels(), rates, C, cfg.dropout, gen_, &dropout_gen_,
                                                cfg.dtype));
  classifier_->push_back(std::make_shared<Conv2d>(C, C, 3, 1, 1, 1, false, Conv2d::Init::pytorch_default, gen_, cfg.dtype));
  classifier_->push_back(bn(C, cfg.dtype));
  classifier_->push_back(std::make_shared<ReLU>());
  if (cfg.num_classes > 0)
    classifier_->push_back(std::make_shared<Conv2d>(C, cfg.num_classes, 1, 1, 0, 1, true, Conv2d::Init::pytorch_default,
                                                    gen_, cfg.dtype));
  register_module("classifier", classifier_);
}

std::string DeepLabV3::load_torchvision_backbone(const StateDict& sd, const std::string& source) {
  // torchvision's resnet keys are exactly our ResNet's (conv1, bn1, layer{1..4}.{i}.conv{1..3}/bn{1..3}/
  // downsample.{0,1}, BN running_mean / running_var / num_batches_tracked).
  StateDict mine;
  int64_t skipped = 0;
  for (const auto& [key, t] : sd) {
    auto starts = [&](const char* p) { return key.rfind(p, 0) == 0; };
    if (starts("fc.") || starts("classifier.") || starts("aux_classifier.")) {  // heads: not ours to load
      ++skipped;
      continue;
    }
    const std::string k = starts("backbone.") ? key.substr(9) : key;
    Tensor v = t;
    if (v.dtype() != DType::i64 && v.dtype() != cfg_.dtype) v = v.to(cfg_.dtype);  // e.g. f16 files into f32
    mine[k] = v.to(backbone_->parameters()[0].device());
  }
  LESEG_CHECK(!mine.empty(), source, ": no ResNet backbone weights (expected torchvision keys such as ",
              "'conv1.weight' or 'backbone.conv1.weight'; ", skipped, " other keys)");
  try {
    backbone_->load_state_dict(mine, /*strict=*/true);
  } catch (const Error& e) {
    LESEG_FAIL(source, ": as the backbone of DeepLabV3 (ResNet-", cfg_.depth, "): ", e.what());
  }
  return detail::concat(source, ": ResNet-", cfg_.depth, " backbone initialised from ", mine.size(), " tensors (",
                        skipped, " non-backbone keys skipped)");
}

DeepLabV3Output DeepLabV3::run(const Tensor& images) {
  LESEG_CHECK(images.ndim() == 4 && images.size(1) == cfg_.in_channels, "DeepLabV3: images must be (N, ",
              cfg_.in_channels, ", H, W), got ", images.shape().str());
  const Size2 crop(images.size(2), images.size(3));
  Tensor h = backbone_->forward(images);
  for (size_t i = 0; i < 4; ++i) h = (*classifier_)[i]->forward(h);
  DeepLabV3Output out;
  out.features_lowres = h;
  if (cfg_.upsample_features) out.features = interpolate_bilinear(h, crop, false);
  // The 1×1 classifier commutes with bilinear upsampling (both linear, weights sum to 1 per pixel), so
  // classifying at low resolution and upsampling the logits equals torchvision's order exactly.
  if (cfg_.num_classes > 0) out.logits = interpolate_bilinear((*classifier_)[4]->forward(h), crop, false);
  return out;
}

Tensor DeepLabV3::forward(const Tensor& images) {
  DeepLabV3Output o = run(images);
  return cfg_.num_classes > 0 ? o.logits : o.features;
}

}  // namespace leseg::models
