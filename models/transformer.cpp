// SPDX-License-Identifier: Apache-2.0
#include "models/transformer.h"

#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/shape_ops.h"
#include "models/sparse_blocks.h"

namespace leseg::models {

namespace {
// Shape and dtype only: the values (from 0 to T, non-decreasing) are checked by the fused attention when it builds
// its schedule for these offsets (engine/ops/attention.cpp), once per offsets tensor, so that a forward does not
// read them back from the device every time.
void check_offsets(const Tensor& offsets, int64_t T, const char* what) {
  LESEG_CHECK(offsets.defined() && offsets.ndim() == 1 && offsets.numel() >= 2 &&
                  (offsets.dtype() == DType::i32 || offsets.dtype() == DType::i64),
              what, ": offsets must be (B + 1,) i32/i64 with B >= 1, got ",
              offsets.defined() ? offsets.str() : std::string("undefined"));
  LESEG_CHECK(T >= 0, what, ": ", T, " tokens");
}
}  // namespace

TransformerBlock::TransformerBlock(const TransformerConfig& c, Generator& gen)
    : heads_(c.heads), dropout_(c.dropout), kind_(c.block) {
  if (kind_ == TransformerBlockKind::Eq3) {
    qkv_ = register_module("qkv", std::make_shared<Linear>(c.dim, 3 * c.dim, true, gen, c.dtype));
    proj_ = register_module("proj", std::make_shared<Linear>(c.dim, c.dim, true, gen, c.dtype));
    linear_ = register_module("linear", std::make_shared<Linear>(c.dim, c.dim, true, gen, c.dtype));
    for (auto* l : {proj_.get(), linear_.get()}) {  // identity at initialisation
      l->weight.zero_();
      if (l->bias.defined()) l->bias.zero_();
    }
    return;
  }
  norm1_ = register_module("norm1", std::make_shared<LayerNorm>(c.dim, 1e-5, true, c.dtype));
  qkv_ = register_module("qkv", std::make_shared<Linear>(c.dim, 3 * c.dim, true, gen, c.dtype));
  proj_ = register_module("proj", std::make_shared<Linear>(c.dim, c.dim, true, gen, c.dtype));
  norm2_ = register_module("norm2", std::make_shared<LayerNorm>(c.dim, 1e-5, true, c.dtype));
  MLPOptions mo;
  mo.activation = Activation::gelu;
  mo.dtype = c.dtype;
  mlp_ = register_module("mlp", std::make_shared<MLP>(std::vector<int64_t>{c.dim, c.mlp_ratio * c.dim, c.dim}, gen, mo));
}

Tensor TransformerBlock::forward(const Tensor& x, const Tensor& offsets) {
  const int64_t d = x.size(1);
  if (kind_ == TransformerBlockKind::Eq3) {
    std::vector<Tensor> qkv = split((*qkv_)(x), {d, d, d}, 1);
    Tensor a = (*proj_)(multi_head_attention(qkv[0], qkv[1], qkv[2], offsets, offsets, heads_));
    Tensor h = add(x, dropout(a, dropout_, is_training()));
    return add(h, dropout((*linear_)(h), dropout_, is_training()));
  }
  std::vector<Tensor> qkv = split((*qkv_)((*norm1_)(x)), {d, d, d}, 1);
  Tensor a = (*proj_)(multi_head_attention(qkv[0], qkv[1], qkv[2], offsets, offsets, heads_));
  Tensor h = add(x, dropout(a, dropout_, is_training()));
  Tensor m = (*mlp_)((*norm2_)(h));
  return add(h, dropout(m, dropout_, is_training()));
}

TransformerEncoder::TransformerEncoder(const TransformerConfig& c) : cfg_(c) {
  LESEG_CHECK(c.dim > 0 && c.heads > 0 && c.dim % c.heads == 0, "TransformerEncoder: dim ", c.dim,
              " must be a positive multiple of heads ", c.heads);
  LESEG_CHECK(c.layers >= 0 && c.mlp_ratio >= 1 && c.pos_hidden >= 0, "TransformerEncoder: layers ", c.layers,
              ", mlp_ratio ", c.mlp_ratio, ", pos_hidden ", c.pos_hidden, " out of range");
  LESEG_CHECK(c.dropout >= 0 && c.dropout < 1, "TransformerEncoder: dropout ", c.dropout, " not in [0, 1)");
  Generator gen(c.seed);
  const bool eq3 = c.block == TransformerBlockKind::Eq3;
  if (c.pos_hidden > 0 && !eq3) {
    MLPOptions mo;
    mo.dtype = c.dtype;
    pos_mlp_ = register_module("pos_mlp", std::make_shared<MLP>(std::vector<int64_t>{3, c.pos_hidden, c.dim}, gen, mo));
  }
  auto layers = std::make_shared<Container>();
  for (int64_t i = 0; i < c.layers; ++i) {
    blocks_.push_back(std::make_shared<TransformerBlock>(c, gen));
    layers->add(std::to_string(i), blocks_.back());
  }
  register_module("layers", layers);
  if (c.final_norm && !eq3) norm_ = register_module("norm", std::make_shared<LayerNorm>(c.dim, 1e-5, true, c.dtype));
}

Tensor TransformerEncoder::forward(const Tensor& x, const Tensor& xyz, const Tensor& offsets) {
  LESEG_CHECK(x.defined() && x.ndim() == 2 && x.size(1) == cfg_.dim && x.dtype() == cfg_.dtype,
              "TransformerEncoder: tokens must be (T, ", cfg_.dim, ") ", dtype_name(cfg_.dtype), ", got ",
              x.defined() ? x.str() : std::string("undefined"));
  check_offsets(offsets, x.size(0), "TransformerEncoder");
  Tensor h = x;
  if (pos_mlp_ && xyz.defined()) {
    LESEG_CHECK(xyz.ndim() == 2 && xyz.size(0) == x.size(0) && xyz.size(1) == 3 && xyz.dtype() == x.dtype(),
                "TransformerEncoder: xyz must be (T = ", x.size(0), ", 3) like the tokens, got ", xyz.str());
    h = add(h, (*pos_mlp_)(xyz));
  }
  for (auto& b : blocks_) h = b->forward(h, offsets);
  return norm_ ? (*norm_)(h) : h;
}

}  // namespace leseg::models
