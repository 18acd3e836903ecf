// SPDX-License-Identifier: Apache-2.0
#include "models/minkunet.h"

namespace leseg::models {

namespace {
const char* kDownNames[4] = {"conv1p1s2", "conv2p2s2", "conv3p4s2", "conv4p8s2"};
const char* kUpNames[4] = {"convtr4p16s2", "convtr5p8s2", "convtr6p4s2", "convtr7p2s2"};

void trace_push(std::vector<StageTrace>* t, const std::string& name, const SparseTensor& x) {
  if (t) t->push_back(StageTrace{name, x.stride(), x.size(), x.channels()});
}
}  // namespace

MinkUNet::MinkUNet(const MinkUNetConfig& c) : cfg_(c) {
  LESEG_CHECK(c.in_channels > 0 && c.init_dim > 0, "MinkUNet: in_channels ", c.in_channels, " and init_dim ",
              c.init_dim, " must be positive");
  LESEG_CHECK(c.stem_kernel >= 1 && c.stem_kernel <= 5 && c.stem_kernel % 2 == 1, "MinkUNet: stem kernel ",
              c.stem_kernel, " must be odd in 1..5 (3 in CLIP2Scene, 5 in MinkowskiEngine)");
  for (int i = 0; i < 8; ++i) {
    LESEG_CHECK(c.layers[i] >= 1, "MinkUNet: layers[", i, "] = ", c.layers[i], " must be >= 1");
    LESEG_CHECK(c.planes[i] >= 1, "MinkUNet: planes[", i, "] = ", c.planes[i], " must be >= 1");
  }
  Generator gen(c.seed);
  auto conv = [&](int64_t in, int64_t out, int k, int stride, bool transposed) {
    return make_sparse_conv(in, out, k, stride, transposed, c.init_weights ? ConvInit::MinkowskiKaiming : ConvInit::Zeros, c.dtype, gen);
  };
  auto bn = [&](int64_t ch) { return std::make_shared<SparseBatchNorm>(ch, c.bn_momentum, c.dtype); };
  int64_t inplanes = c.init_dim;
  auto make_layer = [&](int64_t planes, int count) {
    auto seq = std::make_shared<BlockSequence>();
    for (int i = 0; i < count; ++i) {
      BlockSpec b;
      b.in = inplanes;
      b.out = planes;
      b.bn_momentum = c.block_bn_momentum;
      b.init = c.init_weights ? ConvInit::MinkowskiKaiming : ConvInit::Zeros;
      b.dtype = c.dtype;
      auto blk = std::make_shared<BasicBlock>(b, gen);
      seq->push_back(blk);
      inplanes = planes;
    }
    return seq;
  };
  conv0_ = register_module("conv0p1s1", conv(c.in_channels, c.init_dim, c.stem_kernel, 1, false));
  bn0_ = register_module("bn0", bn(c.init_dim));
  for (int i = 0; i < 4; ++i) {
    down_[i] = register_module(kDownNames[i], conv(inplanes, inplanes, 2, 2, false));
    down_bn_[i] = register_module("bn" + std::to_string(i + 1), bn(inplanes));
    blocks_[i] = register_module("block" + std::to_string(i + 1), make_layer(c.planes[i], c.layers[i]));
  }
  // Skip widths: p8 -> planes[2], p4 -> planes[1], p2 -> planes[0], p1 -> init_dim.
  const int64_t skip[4] = {c.planes[2], c.planes[1], c.planes[0], c.init_dim};
  for (int i = 0; i < 4; ++i) {
    up_[i] = register_module(kUpNames[i], conv(inplanes, c.planes[4 + i], 2, 2, true));
    up_bn_[i] = register_module("bntr" + std::to_string(i + 4), bn(c.planes[4 + i]));
    inplanes = c.planes[4 + i] + skip[i];
    blocks_[4 + i] = register_module("block" + std::to_string(i + 5), make_layer(c.planes[4 + i], c.layers[4 + i]));
  }
}

void MinkUNet::set_conv_variant(ConvVariant v) { models::set_conv_variant(*this, v); }

SparseTensor MinkUNet::forward(const SparseTensor& x, std::vector<StageTrace>* trace) {
  LESEG_CHECK(x.defined(), "MinkUNet: undefined input");
  LESEG_CHECK(x.stride() == 1, "MinkUNet: the input must be at tensor stride 1, got ", x.stride());
  LESEG_CHECK(x.channels() == cfg_.in_channels, "MinkUNet: expected ", cfg_.in_channels, " input channels, got ",
              x.channels());
  LESEG_CHECK(x.feats().dtype() == cfg_.dtype, "MinkUNet: features are ", dtype_name(x.feats().dtype()),
              ", the model is ", dtype_name(cfg_.dtype));
  std::array<SparseTensor, 4> skips;  // p1, p2 (block1), p4 (block2), p8 (block3)
  SparseTensor h = bn0_->forward_relu((*conv0_)(x));
  trace_push(trace, "conv0p1s1", h);
  skips[0] = h;
  for (int i = 0; i < 4; ++i) {
    h = down_bn_[i]->forward_relu((*down_[i])(h));
    h = (*blocks_[i])(h);
    trace_push(trace, "block" + std::to_string(i + 1), h);
    if (i < 3) skips[i + 1] = h;
  }
  for (int i = 0; i < 4; ++i) {
    h = up_bn_[i]->forward_relu((*up_[i])(h));
    trace_push(trace, kUpNames[i], h);
    h = sparse_cat(h, skips[3 - i]);
    h = (*blocks_[4 + i])(h);
    trace_push(trace, "block" + std::to_string(i + 5), h);
  }
  return h;
}

std::vector<StageInfo> MinkUNet::stages() const {
  std::vector<StageInfo> out;
  const auto& c = cfg_;
  out.push_back({"conv0p1s1+bn0", 1, c.in_channels, c.init_dim, 0, parameter_count(*conv0_) + parameter_count(*bn0_)});
  int64_t ch = c.init_dim;
  int32_t s = 1;
  for (int i = 0; i < 4; ++i) {
    s *= 2;
    out.push_back({std::string(kDownNames[i]) + "+bn" + std::to_string(i + 1), s, ch, ch, 0,
                   parameter_count(*down_[i]) + parameter_count(*down_bn_[i])});
    out.push_back({"block" + std::to_string(i + 1), s, ch, c.planes[i], c.layers[i], parameter_count(*blocks_[i])});
    ch = c.planes[i];
  }
  const int64_t skip[4] = {c.planes[2], c.planes[1], c.planes[0], c.init_dim};
  for (int i = 0; i < 4; ++i) {
    s /= 2;
    out.push_back({std::string(kUpNames[i]) + "+bntr" + std::to_string(i + 4), s, ch, c.planes[4 + i], 0,
                   parameter_count(*up_[i]) + parameter_count(*up_bn_[i])});
    out.push_back({"block" + std::to_string(i + 5), s, c.planes[4 + i] + skip[i], c.planes[4 + i], c.layers[4 + i],
                   parameter_count(*blocks_[4 + i])});
    ch = c.planes[4 + i];
  }
  return out;
}

}  // namespace leseg::models
