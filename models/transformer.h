// SPDX-License-Identifier: Apache-2.0
// Transformer encoder over packed variable-length point sets (HICL §2.3 reading; METHODS §1).
//   x (T, d) tokens of B sets packed back to back, xyz (T, 3) their positions, offsets (B + 1) cumulative
//   (i32/i64, any device): set b is rows [offsets[b], offsets[b+1]).
//   h = x + pos_mlp(xyz)                                  pos_mlp: Linear(3, pos_hidden) ReLU Linear(pos_hidden, d)
//   per layer (pre-norm):  h = h + W_o · MHA(LN1(h))      MHA: qkv = Linear(d, 3d), 8 heads, fused attention
//                                                          (engine/ops/attention.h), each token attends only
//                                                          to the tokens of its own set
//                          h = h + W_2 · GELU(W_1 · LN2(h))  (d -> 4d -> d)
//   out = LN_final(h)  (final_norm, default on) -> (T, d)
// block = Eq3 (HICL Eq. 3, residual all the way; TransformerConfig::block): no position term, no norms, no final LN;
//   per layer:  h~ = h + W_o · MHA(h)   h = h~ + W_l · h~   with W_o and W_l (and their biases) zero at
//   initialisation, so that at initialisation out = x exactly (the transformer's logits equal the 3D model's)
//   and training moves it away from identity. Parameter names: "layers.0.qkv.weight", "layers.0.proj.weight",
//   "layers.0.linear.weight". block = PreNorm is the block above (a stated variant).
// Parameter names: "pos_mlp.0.weight", "layers.0.norm1.weight", "layers.0.qkv.weight", "layers.0.proj.weight",
// "layers.0.mlp.0.weight", "layers.0.mlp.2.weight", "norm.weight".
#pragma once
#include <memory>
#include <vector>

#include "engine/nn/layers.h"

namespace leseg::models {

enum class TransformerBlockKind { PreNorm, Eq3 };

struct TransformerConfig {
  TransformerBlockKind block = TransformerBlockKind::PreNorm;
  int64_t dim = 512;
  int64_t heads = 8;
  int64_t layers = 3;
  int64_t mlp_ratio = 4;
  int64_t pos_hidden = 64;  // 0: no positional encoding
  bool final_norm = true;
  double dropout = 0.0;     // on the attention output and the MLP output (training only)
  DType dtype = DType::f32;
  uint64_t seed = 0;
};

class TransformerBlock : public Module {
 public:
  TransformerBlock(const TransformerConfig& cfg, Generator& gen);
  std::string type_name() const override { return "TransformerBlock"; }
  using Module::forward;
  Tensor forward(const Tensor& x, const Tensor& offsets);

 private:
  int64_t heads_;
  double dropout_;
  TransformerBlockKind kind_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
  std::shared_ptr<Linear> qkv_, proj_, linear_;
  std::shared_ptr<MLP> mlp_;
};

class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerConfig& cfg);
  std::string type_name() const override { return "TransformerEncoder"; }
  using Module::forward;
  // x (T, dim), xyz (T, 3) or undefined (no positional term), offsets (B + 1) -> (T, dim).
  Tensor forward(const Tensor& x, const Tensor& xyz, const Tensor& offsets);
  const TransformerConfig& config() const { return cfg_; }

 private:
  TransformerConfig cfg_;
  std::shared_ptr<MLP> pos_mlp_;
  std::vector<std::shared_ptr<TransformerBlock>> blocks_;
  std::shared_ptr<LayerNorm> norm_;
};

}  // namespace leseg::models
