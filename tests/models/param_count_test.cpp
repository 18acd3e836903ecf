// SPDX-License-Identifier: Apache-2.0
// Parameter counts pinned to the reference definitions. The expected counts are computed here from the
// layouts of REFERENCE-CODE §1.3 (ME MinkUNetBase / PCSeg SPVCNN): conv weight K^3·C_in·C_out (no bias), BN 2·C,
// Linear in·out + out — written out independently of models/, then compared with the built modules and with
// literal numbers (so a change in either the formula or the model shows up).
#include <gtest/gtest.h>

#include <array>

#include "models/registry.h"

namespace leseg::models {
namespace {

int64_t conv(int64_t k, int64_t i, int64_t o) { return k * k * k * i * o; }
int64_t bn(int64_t c) { return 2 * c; }
int64_t basic_block(int64_t i, int64_t o) {
  return conv(3, i, o) + bn(o) + conv(3, o, o) + bn(o) + (i != o ? conv(1, i, o) + bn(o) : 0);
}

// ME MinkUNetBase.network_initialization: conv0 (k) + bn0; per encoder stage conv k2 s2 (inplanes -> inplanes) + bn
// and _make_layer(PLANES[i], LAYERS[i]); per decoder stage convtr k2 s2 (inplanes -> PLANES[4+i]) + bntr, then
// inplanes = PLANES[4+i] + skip and _make_layer. Skips: PLANES[2], PLANES[1], PLANES[0], INIT_DIM. No `final`.
int64_t minkunet_reference(std::array<int, 8> layers, std::array<int64_t, 8> planes, int64_t in = 3, int ks = 3) {
  const int64_t init_dim = 32;
  int64_t total = conv(ks, in, init_dim) + bn(init_dim);
  int64_t inplanes = init_dim;
  auto make_layer = [&](int64_t p, int n) {
    for (int b = 0; b < n; ++b) {
      total += basic_block(inplanes, p);
      inplanes = p;
    }
  };
  for (int i = 0; i < 4; ++i) {
    total += conv(2, inplanes, inplanes) + bn(inplanes);
    make_layer(planes[i], layers[i]);
  }
  const int64_t skip[4] = {planes[2], planes[1], planes[0], init_dim};
  for (int i = 0; i < 4; ++i) {
    total += conv(2, inplanes, planes[4 + i]) + bn(planes[4 + i]);
    inplanes = planes[4 + i] + skip[i];
    make_layer(planes[4 + i], layers[4 + i]);
  }
  return total;
}

// PCSeg SPVCNN: stem 2 x (conv3 + BN); stage i: BasicConvolutionBlock(cs[i], cs[i], k2 s2) + ResidualBlock(cs[i],
// cs[i+1]) + ResidualBlock(cs[i+1], cs[i+1]); up i: BasicDeconvolutionBlock(cs[4+i], cs[5+i]) + ResidualBlock(cs[5+i]
// + skip, cs[5+i]) + ResidualBlock(cs[5+i], cs[5+i]), skips cs[3], cs[2], cs[1], cs[0]; point_transforms
// Linear+BN1d (32->256, 256->128, 128->96).
int64_t spvcnn_reference(int64_t in) {
  const int64_t cs[9] = {32, 32, 64, 128, 256, 256, 128, 96, 96};
  int64_t total = conv(3, in, cs[0]) + bn(cs[0]) + conv(3, cs[0], cs[0]) + bn(cs[0]);
  for (int i = 0; i < 4; ++i)
    total += conv(2, cs[i], cs[i]) + bn(cs[i]) + basic_block(cs[i], cs[i + 1]) + basic_block(cs[i + 1], cs[i + 1]);
  const int64_t skip[4] = {cs[3], cs[2], cs[1], cs[0]};
  for (int i = 0; i < 4; ++i)
    total += conv(2, cs[4 + i], cs[5 + i]) + bn(cs[5 + i]) + basic_block(cs[5 + i] + skip[i], cs[5 + i]) +
             basic_block(cs[5 + i], cs[5 + i]);
  const int64_t pt[3][2] = {{32, 256}, {256, 128}, {128, 96}};
  for (const auto& p : pt) total += p[0] * p[1] + p[1] + bn(p[1]);
  return total;
}

constexpr std::array<int, 8> k14{1, 1, 1, 1, 1, 1, 1, 1};
constexpr std::array<int, 8> k18{2, 2, 2, 2, 2, 2, 2, 2};
constexpr std::array<int, 8> k34{2, 3, 4, 6, 2, 2, 2, 2};

int64_t built(const std::string& name, int64_t in = 3, int ks = 3) {
  ModelOptions o;
  o.in_channels = in;
  o.stem_kernel = ks;
  return model_info(name, o).parameter_count;
}

TEST(ParameterCount, MinkUNet14A) {
  const int64_t ref = minkunet_reference(k14, {32, 64, 128, 256, 128, 128, 96, 96});
  EXPECT_EQ(ref, 8013152);
  EXPECT_EQ(built("MinkUNet14A"), ref);
}

TEST(ParameterCount, MinkUNet18A) {
  const int64_t ref = minkunet_reference(k18, {32, 64, 128, 256, 128, 128, 96, 96});
  EXPECT_EQ(ref, 15481824);
  EXPECT_EQ(built("MinkUNet18A"), ref);
}

TEST(ParameterCount, MinkUNet34C) {
  const int64_t ref = minkunet_reference(k34, {32, 64, 128, 256, 256, 128, 96, 96});
  EXPECT_EQ(ref, 37844704);  // ME's Res16UNet34C: 37.8 M
  EXPECT_EQ(built("MinkUNet34C"), ref);
  EXPECT_EQ(built("MinkUNet34"), ref);  // ME base PLANES are 34C's
  EXPECT_EQ(built("MinkUNet34C", 3, 5), minkunet_reference(k34, {32, 64, 128, 256, 256, 128, 96, 96}, 3, 5));
}

TEST(ParameterCount, MinkUNet34A) {
  const int64_t ref = minkunet_reference(k34, {32, 64, 128, 256, 256, 128, 64, 64});
  EXPECT_EQ(ref, 36596704);
  EXPECT_EQ(built("MinkUNet34A"), ref);
}

TEST(ParameterCount, EveryMinkUNetVariant) {
  struct Case {
    const char* name;
    std::array<int, 8> layers;
    std::array<int64_t, 8> planes;
  };
  const Case cases[] = {
      {"MinkUNet14B", k14, {32, 64, 128, 256, 128, 128, 128, 128}},
      {"MinkUNet14C", k14, {32, 64, 128, 256, 192, 192, 128, 128}},
      {"MinkUNet14D", k14, {32, 64, 128, 256, 384, 384, 384, 384}},
      {"MinkUNet18B", k18, {32, 64, 128, 256, 128, 128, 128, 128}},
      {"MinkUNet18D", k18, {32, 64, 128, 256, 384, 384, 384, 384}},
      {"MinkUNet34B", k34, {32, 64, 128, 256, 256, 128, 64, 32}},
      {"MinkUNet14", k14, {32, 64, 128, 256, 256, 128, 96, 96}},
      {"MinkUNet18", k18, {32, 64, 128, 256, 256, 128, 96, 96}},
      {"MinkUNet14-C2S", k14, {32, 64, 128, 256, 128, 128, 96, 96}},
      {"MinkUNet18-C2S", k18, {32, 64, 128, 256, 128, 128, 96, 96}},
      {"MinkUNet34-C2S", k34, {32, 64, 128, 256, 128, 128, 96, 96}},
  };
  for (const auto& c : cases) EXPECT_EQ(built(c.name), minkunet_reference(c.layers, c.planes)) << c.name;
  // in_channels changes only the stem
  EXPECT_EQ(built("MinkUNet14A", 6) - built("MinkUNet14A", 3), conv(3, 3, 32));
}

TEST(ParameterCount, SPVCNN) {
  EXPECT_EQ(spvcnn_reference(4), 21776160);  // torchsparse SPVCNN (cr 1.0): 21.8 M
  EXPECT_EQ(built("SPVCNN", 4), spvcnn_reference(4));
  EXPECT_EQ(built("SPVCNN", 1), spvcnn_reference(1));
}

TEST(ParameterCount, StageSumsEqualTotal) {
  for (const auto& name : model_names()) {
    const ModelInfo info = model_info(name);
    int64_t s = 0;
    for (const auto& st : info.stages) s += st.parameters;
    EXPECT_EQ(s, info.parameter_count) << name;
  }
}

TEST(Registry, UnknownNameListsKnownOnes) {
  try {
    create_backbone("MinkUNet99Z");
    FAIL() << "unknown model accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("MinkUNet99Z"), std::string::npos) << m;
    EXPECT_NE(m.find("MinkUNet14A"), std::string::npos) << m;
    EXPECT_NE(m.find("SPVCNN"), std::string::npos) << m;
  }
  EXPECT_TRUE(has_model("MinkUNet34C"));
  EXPECT_FALSE(has_model("minkunet34c"));
}

TEST(Registry, SummaryPrintsCountAndStages) {
  const std::string s = model_summary(model_info("MinkUNet14A"));
  EXPECT_NE(s.find("parameters: 8013152"), std::string::npos) << s;
  EXPECT_NE(s.find("block4"), std::string::npos) << s;
  EXPECT_NE(s.find("convtr7p2s2"), std::string::npos) << s;
  const std::string v = model_summary(model_info("SPVCNN"));
  EXPECT_NE(v.find("point_transforms.2"), std::string::npos) << v;
  EXPECT_NE(v.find("(N, 480)"), std::string::npos) << v;
}

}  // namespace
}  // namespace leseg::models
