// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "engine/error.h"
#include "train/config.h"
#include "train/conv_settings.h"

using leseg::train::Config;

TEST(Config, OverridesAndTypedReads) {
  Config c = Config::from_string("model: {name: MinkUNet14A, in_channels: 3}\noptim: {lr: 0.1, betas: [0.9, 0.99]}\n");
  c.apply_overrides({"optim.lr=0.02", "train.epochs=5", "model.name=MinkUNet34C"});
  EXPECT_DOUBLE_EQ(c.get<double>("optim.lr"), 0.02);
  EXPECT_EQ(c.get<int>("train.epochs"), 5);
  EXPECT_EQ(c.get<std::string>("model.name"), "MinkUNet34C");
  EXPECT_EQ(c.get<int>("model.in_channels"), 3);
  EXPECT_EQ(c.get<std::vector<double>>("optim.betas").size(), 2u);
  EXPECT_EQ(c.get<int>("train.missing", 7), 7);
  EXPECT_NO_THROW(c.check_unused());
}

TEST(Config, UnknownKeysAreNamedWithAHint) {
  Config c = Config::from_string("optim: {lr: 0.1}\n");
  c.apply_override("optim.lrr=0.2");
  c.get<double>("optim.lr");
  try {
    c.check_unused();
    FAIL();
  } catch (const leseg::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'optim.lrr'"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'optim.lr'"), std::string::npos) << m;
  }
}

TEST(Config, ErrorsNameKeyAndFile) {
  Config c = Config::from_string("a: {b: hello}\n", "cfg.yaml");
  EXPECT_THROW(c.get<int>("a.b"), leseg::Error);
  EXPECT_THROW(c.get<int>("a.c"), leseg::Error);
  EXPECT_THROW(Config::from_file("/nonexistent/x.yaml"), leseg::Error);
  EXPECT_THROW(c.apply_override("novalue"), leseg::Error);
  EXPECT_THROW(Config::from_string("a: [1, 2\n"), leseg::Error);
}

// train.conv_variant / train.conv_autotune (train/config.h): parsing, the process-wide effect, and clear errors.
#include "engine/sparse/conv_autotune.h"

namespace {
std::string conv_error(const std::string& yaml, leseg::Precision p = leseg::Precision::f32, bool cuda = false) {
  try {
    leseg::train::read_conv_settings(Config::from_string(yaml, "job.yaml"), p, cuda);
  } catch (const leseg::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, ConvVariantKeysParseAndApply) {
  using leseg::kernels::ConvVariant;
  using leseg::train::apply_conv_settings;
  using leseg::train::read_conv_settings;
  const auto f32 = leseg::Precision::f32;
  // absent: nothing set, the environment decides
  auto none = read_conv_settings(Config::from_string("train: {epochs: 1}\n"), f32, true);
  EXPECT_FALSE(none.variant_set);
  EXPECT_FALSE(none.autotune.has_value());
  // every enum name the env var parses
  for (ConvVariant v : leseg::kernels::kAllConvVariants) {
    const std::string name = leseg::kernels::conv_variant_name(v);
    auto s = read_conv_settings(Config::from_string("train: {conv_variant: " + name + "}\n"), f32, false);
    ASSERT_TRUE(s.variant_set && s.variant.has_value()) << name;
    EXPECT_EQ(*s.variant, v) << name;
    EXPECT_EQ(*s.variant, leseg::parse_conv_variant(name)) << name;
    apply_conv_settings(s);
    ASSERT_TRUE(leseg::conv_variant_override().has_value());
    EXPECT_EQ(*leseg::conv_variant_override(), v);
  }
  // auto: no override, autotune on
  auto a = read_conv_settings(Config::from_string("train: {conv_variant: auto}\n"), f32, true);
  EXPECT_TRUE(a.variant_set);
  EXPECT_FALSE(a.variant.has_value());
  leseg::set_conv_autotune(false);
  apply_conv_settings(a);
  EXPECT_FALSE(leseg::conv_variant_override().has_value());
  EXPECT_TRUE(leseg::conv_autotune_enabled());
  // conv_autotune alone
  auto off = read_conv_settings(Config::from_string("train: {conv_autotune: false}\n"), f32, true);
  EXPECT_FALSE(off.variant_set);
  ASSERT_TRUE(off.autotune.has_value());
  apply_conv_settings(off);
  EXPECT_FALSE(leseg::conv_autotune_enabled());
  // a forced variant with autotune false is consistent
  EXPECT_EQ(conv_error("train: {conv_variant: grouped_gemm, conv_autotune: false}\n"), "");
  // half-capable variants under bf16 on CUDA
  EXPECT_EQ(conv_error("train: {conv_variant: grouped_gemm}\n", leseg::Precision::bf16, true), "");
  EXPECT_EQ(conv_error("train: {conv_variant: tensor_core_implicit_gemm}\n", leseg::Precision::f16, true), "");
  leseg::set_conv_variant_override(std::nullopt);
  leseg::set_conv_autotune(false);
}

TEST(Config, ConvVariantBadValuesAreClearErrors) {
  std::string m = conv_error("train: {conv_variant: tensor_core}\n");
  EXPECT_NE(m.find("train.conv_variant 'tensor_core' is not one of auto, gather_gemm_scatter, implicit_gemm, "
                   "grouped_gemm, tensor_core_implicit_gemm"), std::string::npos) << m;
  EXPECT_NE(m.find("job.yaml"), std::string::npos) << m;
  m = conv_error("train: {conv_variant: grouped_gemm, conv_autotune: true}\n");
  EXPECT_NE(m.find("contradicts"), std::string::npos) << m;
  m = conv_error("train: {conv_variant: auto, conv_autotune: false}\n");
  EXPECT_NE(m.find("contradicts"), std::string::npos) << m;
  m = conv_error("train: {conv_autotune: maybe}\n");
  EXPECT_NE(m.find("train.conv_autotune"), std::string::npos) << m;
  // a variant that cannot run the job's precision on CUDA (fine on CPU: the twin runs)
  m = conv_error("train: {conv_variant: gather_gemm_scatter}\n", leseg::Precision::bf16, true);
  EXPECT_NE(m.find("cannot run train.precision bf16"), std::string::npos) << m;
  EXPECT_EQ(conv_error("train: {conv_variant: gather_gemm_scatter}\n", leseg::Precision::bf16, false), "");
}
