// SPDX-License-Identifier: Apache-2.0
// model2d.init: DeepLabV3's ResNet backbone initialised from torchvision weights in a safetensors file
// (scripts/torchvision_weights.py). Always: a round trip through a file written here, and a clear error for a
// missing file. With LESEG_TORCHVISION_FIXTURE=DIR (made by `scripts/torchvision_weights.py crosscheck DIR` on a
// machine with PyTorch): our layer4 output equals torchvision's resnet50 at output strides 8 and 16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "engine/autograd.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/error.h"
#include "io/formats/npy.h"
#include "models/deeplabv3.h"
#include "train/config.h"
#include "train/regime.h"

using namespace leseg;

namespace {
models::DeepLabV3Config config(int depth, int os, uint64_t seed) {
  models::DeepLabV3Config c;
  c.depth = depth;
  c.output_stride = os;
  c.num_classes = 0;
  c.upsample_features = false;
  c.seed = seed;
  return c;
}
}  // namespace

TEST(TorchvisionInit, ConfigKeyLoadsTheFileIntoTheBackbone) {
  const std::string dir = (std::filesystem::temp_directory_path() / "leseg_tv_init_test").string();
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/r18.safetensors";
  models::DeepLabV3 src(config(18, 16, 1)), dst(config(18, 16, 2));
  StateDict sd;
  for (auto& [n, t] : src.backbone()->state_dict()) sd[n] = t;  // torchvision's bare resnet names
  sd["fc.weight"] = Tensor::zeros(Shape{1000, 512}, DType::f32);
  sd["fc.bias"] = Tensor::zeros(Shape{1000}, DType::f32);
  save_safetensors(path, sd);

  train::Config none = train::Config::from_string("model2d: {depth: 18}\n");
  EXPECT_EQ(train::init_deeplab_from_config(dst, none), "");
  train::Config cfg = train::Config::from_string("model2d: {depth: 18, init: " + path + "}\n");
  const std::string summary = train::init_deeplab_from_config(dst, cfg);
  EXPECT_NE(summary.find("120 tensors"), std::string::npos) << summary;  // torchvision resnet18: 122 with fc
  EXPECT_NE(summary.find("2 non-backbone keys skipped"), std::string::npos) << summary;
  for (auto& [n, t] : src.backbone()->state_dict())
    EXPECT_EQ(t.to(DType::f64).to_vector<double>(), dst.backbone()->state_dict().at(n).to(DType::f64).to_vector<double>()) << n;

  train::Config missing = train::Config::from_string("model2d: {init: " + dir + "/nope.safetensors}\n");
  try {
    train::init_deeplab_from_config(dst, missing);
    ADD_FAILURE() << "a missing file must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope.safetensors"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(TorchvisionCrossCheck, Resnet50Layer4MatchesTorchvisionAtOutputStride8And16) {
  const char* fixture = std::getenv("LESEG_TORCHVISION_FIXTURE");
  if (!fixture || !*fixture)
    GTEST_SKIP() << "LESEG_TORCHVISION_FIXTURE not set (make one with `scripts/torchvision_weights.py crosscheck DIR` "
                    "where PyTorch is installed)";
  const std::string d = fixture;
  Tensor x = io::read_npy(d + "/input.npy");
  for (int os : {8, 16}) {
    models::DeepLabV3 m(config(50, os, 5));
    train::Config cfg = train::Config::from_string("model2d: {init: " + d + "/weights.safetensors}\n");
    train::init_deeplab_from_config(m, cfg);
    m.eval();
    NoGradGuard ng;
    Tensor y = m.backbone()->forward(x);
    Tensor want = io::read_npy(d + "/expected_os" + std::to_string(os) + ".npy");
    ASSERT_EQ(y.shape(), want.shape()) << "os " << os;
    std::vector<float> a = y.to_vector<float>(), b = want.to_vector<float>();
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      max_err = std::max(max_err, double(std::fabs(a[i] - b[i])));
      max_ref = std::max(max_ref, double(std::fabs(b[i])));
    }
    std::printf("output stride %d: layer4 %s, max |ours - torchvision| %.3g (max |torchvision| %.3g)\n", os,
                y.shape().str().c_str(), max_err, max_ref);
    EXPECT_LE(max_err, 1e-5 * std::max(1.0, max_ref)) << "os " << os;  // f32 sums in another order
  }
}
