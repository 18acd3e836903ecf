// SPDX-License-Identifier: Apache-2.0
// DeepLabV3 (models/deeplabv3.h): parameter counts against torchvision, torchvision state-dict names, output
// shapes for output strides 8 and 16, and a forward + backward on a tiny image batch on CPU (ResNet-18).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "models/deeplabv3.h"
#include "models/sparse_blocks.h"

using namespace leseg;
using namespace leseg::models;

TEST(DeepLabV3, ParameterCountsAndNamesMatchTorchvision) {
  // torchvision.models.resnet{18,34,50}() with the 1000-way fc: 11,689,512 / 21,797,672 / 25,557,032.
  // Our backbone has no avgpool / fc, so we compare backbone + fc (512·1000 + 1000, or 2048·1000 + 1000 for 50).
  // The dilation flags do not change the count. (ResNet-50 is checked through DeepLabV3's backbone below, so
  // the 25M-parameter initialisation runs once.)
  for (auto [depth, torchvision] : std::vector<std::pair<int, int64_t>>{{18, 11689512}, {34, 21797672}}) {
    Generator g(0);
    ResNetConfig rc;
    rc.depth = depth;
    ResNet net(rc, g);
    EXPECT_EQ(parameter_count(net) + resnet_fc_parameters(depth), torchvision) << "resnet" << depth;
    EXPECT_EQ(net.out_channels(), 512);
    EXPECT_EQ(net.output_stride(), 8);
  }
  // torchvision deeplabv3_resnet50(num_classes=21, aux_loss=True) has 42,004,074 parameters; its auxiliary
  // FCNHead(1024, 21) holds 1024·256·9 + 2·256 + 256·21 + 21 = 2,365,205 of them, which we do not build.
  DeepLabV3Config cfg;
  cfg.depth = 50;
  cfg.num_classes = 21;
  DeepLabV3 m(cfg);
  EXPECT_EQ(parameter_count(*m.child("backbone")) + resnet_fc_parameters(50), 25557032) << "resnet50";
  EXPECT_EQ(parameter_count(m), 42004074 - 2365205);
  std::set<std::string> names;
  for (auto& [n, t] : m.state_dict()) names.insert(n);
  for (const char* k : {"backbone.conv1.weight", "backbone.bn1.running_mean", "backbone.layer1.0.conv3.weight",
                        "backbone.layer2.0.downsample.0.weight", "backbone.layer4.2.bn3.num_batches_tracked",
                        "classifier.0.convs.0.0.weight", "classifier.0.convs.3.1.running_var",
                        "classifier.0.convs.4.1.weight", "classifier.0.project.0.weight", "classifier.1.weight",
                        "classifier.2.bias", "classifier.4.weight", "classifier.4.bias"})
    EXPECT_TRUE(names.count(k)) << "missing state-dict key " << k;
  EXPECT_EQ(m.config().atrous_rates, (std::vector<int64_t>{12, 24, 36}));
}

namespace {
DeepLabV3Config resnet18_config(int64_t num_classes, uint64_t seed) {
  DeepLabV3Config cfg;
  cfg.depth = 18;
  cfg.num_classes = num_classes;
  cfg.seed = seed;
  return cfg;
}
}  // namespace

TEST(DeepLabV3, ForwardBackwardTinyResNet18) {
  DeepLabV3 m(resnet18_config(5, 3));
  m.train();
  Generator g(1);
  Tensor img = randn(Shape{2, 3, 64, 96}, g);
  DeepLabV3Output out = m.run(img);
  EXPECT_EQ(out.features_lowres.shape(), (Shape{2, 256, 8, 12}));
  EXPECT_EQ(out.features.shape(), (Shape{2, 256, 64, 96}));
  ASSERT_EQ(out.logits.shape(), (Shape{2, 5, 64, 96}));
  auto lv = out.logits.to_vector<float>();
  double mx = 0;
  for (float v : lv) {
    ASSERT_TRUE(std::isfinite(v));
    mx = std::max(mx, double(std::abs(v)));
  }
  EXPECT_GT(mx, 1e-3);
  Tensor w = randn(out.logits.shape(), g), wf = randn(out.features.shape(), g);
  Tensor loss = add(sum(mul(out.logits, w)), mul(sum(mul(out.features, wf)), 1e-3));
  loss.backward();
  int64_t with_grad = 0, total = 0;
  for (auto& [name, p] : m.named_parameters()) {
    ++total;
    Tensor gr = p.grad();
    ASSERT_TRUE(gr.defined()) << name << " got no gradient";
    ASSERT_EQ(gr.shape(), p.shape()) << name;
    double s = 0;
    for (float v : gr.to_vector<float>()) {
      ASSERT_TRUE(std::isfinite(v)) << name;
      s += std::abs(v);
    }
    with_grad += s > 0;
  }
  // Every parameter reaches the loss (conv weights, BN affine, classifier bias).
  EXPECT_EQ(with_grad, total);
  // Running statistics moved in training mode.
  Tensor rm = m.state_dict().at("backbone.bn1.running_mean");
  double s = 0;
  for (float v : rm.to_vector<float>()) s += std::abs(v);
  EXPECT_GT(s, 0);
}

TEST(DeepLabV3, OutputStride16AndFeatureOnly) {
  DeepLabV3Config cfg;
  cfg.depth = 18;
  cfg.output_stride = 16;
  cfg.num_classes = 0;
  cfg.aspp_channels = 64;
  DeepLabV3 m(cfg);
  EXPECT_EQ(m.config().atrous_rates, (std::vector<int64_t>{6, 12, 18}));
  m.eval();
  NoGradGuard ng;
  Generator g(2);
  DeepLabV3Output out = m.run(randn(Shape{1, 3, 48, 80}, g));
  EXPECT_EQ(out.features_lowres.shape(), (Shape{1, 64, 3, 5}));
  EXPECT_EQ(out.features.shape(), (Shape{1, 64, 48, 80}));
  EXPECT_FALSE(out.logits.defined());
  // Without feature upsampling: a 1×1 head on the low-resolution features, then upsampled, equals the same
  // head on the upsampled features (both linear, bilinear weights sum to 1).
  DeepLabV3Config lc = cfg;
  lc.upsample_features = false;
  DeepLabV3 lean(lc);
  lean.eval();
  Tensor img = randn(Shape{1, 3, 48, 80}, g);
  DeepLabV3Output a = lean.run(img);
  EXPECT_FALSE(a.features.defined());
  Tensor head = randn(Shape{7, 64, 1, 1}, g), hb = randn(Shape{7}, g);
  Tensor low_then_up = interpolate_bilinear(conv2d(a.features_lowres, head, hb), Size2(48, 80));
  Tensor up_then_head = conv2d(interpolate_bilinear(a.features_lowres, Size2(48, 80)), head, hb);
  auto u = low_then_up.to_vector<float>(), v = up_then_head.to_vector<float>();
  for (size_t i = 0; i < u.size(); ++i) ASSERT_NEAR(u[i], v[i], 1e-4 + 1e-4 * std::abs(v[i])) << i;
  EXPECT_THROW(DeepLabV3(DeepLabV3Config{.depth = 101}), Error);
  EXPECT_THROW(m.run(randn(Shape{1, 4, 32, 32}, g)), Error);
}

namespace {
// The backbone's state under torchvision's names: bare resnet keys ("layer1.0.conv1.weight") or prefixed.
StateDict torchvision_style(const DeepLabV3& m, const std::string& prefix) {
  StateDict sd;
  for (auto& [n, t] : m.backbone()->state_dict()) sd[prefix + n] = t.clone();
  return sd;
}
void expect_same_backbone(const DeepLabV3& a, const DeepLabV3& b) {
  StateDict sa = a.backbone()->state_dict(), sb = b.backbone()->state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (auto& [n, t] : sa) {
    ASSERT_TRUE(sb.count(n)) << n;
    EXPECT_EQ(t.to(DType::f64).to_vector<double>(), sb.at(n).to(DType::f64).to_vector<double>()) << n;
  }
}
}  // namespace

TEST(DeepLabV3, LoadsTorchvisionBackboneWeightsBareOrPrefixed) {
  DeepLabV3Config cfg = resnet18_config(0, 1);
  DeepLabV3 src(cfg);
  {
    // torchvision.models.resnet18().state_dict(): bare keys plus the ImageNet classifier, which is skipped.
    cfg.seed = 2;
    DeepLabV3 dst(cfg);
    StateDict sd = torchvision_style(src, "");
    sd["fc.weight"] = Tensor::zeros(Shape{1000, 512}, DType::f32);
    sd["fc.bias"] = Tensor::zeros(Shape{1000}, DType::f32);
    const std::string summary = dst.load_torchvision_backbone(sd, "r18.safetensors");
    EXPECT_NE(summary.find("2 non-backbone keys skipped"), std::string::npos) << summary;
    expect_same_backbone(src, dst);
  }
  {
    // a torchvision deeplabv3 checkpoint: "backbone." keys plus heads that are not loaded.
    cfg.seed = 3;
    DeepLabV3 dst(cfg);
    StateDict sd = torchvision_style(src, "backbone.");
    sd["classifier.4.weight"] = Tensor::zeros(Shape{21, 256, 1, 1}, DType::f32);
    sd["aux_classifier.0.weight"] = Tensor::zeros(Shape{256, 1024, 3, 3}, DType::f32);
    dst.load_torchvision_backbone(sd, "dl.safetensors");
    expect_same_backbone(src, dst);
  }
}

TEST(DeepLabV3, TorchvisionBackboneErrorsNameFileAndKey) {
  DeepLabV3 src(resnet18_config(0, 0)), dst(resnet18_config(0, 0));
  auto expect_error = [&](const StateDict& sd, std::vector<std::string> parts) {
    try {
      dst.load_torchvision_backbone(sd, "w.safetensors");
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      for (auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    }
  };
  StateDict sd = torchvision_style(src, "");
  sd.erase("layer3.1.bn2.running_var");
  expect_error(sd, {"w.safetensors", "ResNet-18", "missing key 'layer3.1.bn2.running_var'"});
  sd = torchvision_style(src, "");
  sd["layer1.0.conv1.weight"] = Tensor::zeros(Shape{64, 64, 1, 1}, DType::f32);  // a ResNet-50 bottleneck's 1x1
  expect_error(sd, {"w.safetensors", "'layer1.0.conv1.weight'", "(64, 64, 1, 1)"});
  sd = torchvision_style(src, "");
  sd["layer1.0.conv3.weight"] = Tensor::zeros(Shape{256, 64, 1, 1}, DType::f32);  // ResNet-50 keys into 18
  expect_error(sd, {"unexpected key 'layer1.0.conv3.weight'"});
  expect_error(StateDict{{"fc.weight", Tensor::zeros(Shape{1000, 512}, DType::f32)}}, {"w.safetensors", "no ResNet backbone weights"});
}
