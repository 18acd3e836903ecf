// SPDX-License-Identifier: Apache-2.0
// Heads on backbone features f (N, C) (per voxel or per point), shared by every regime:
//   ProjectionHead  Linear(C, out) — ME's 1x1 `final` conv (text space, 512), `local_feature` (512) and the
//                   `classifier` (n_classes) are all this; bias optional (text projection: bias off by option).
//   MLPHead         Linear, BN, ReLU, Linear (ERDA's mlp2 projection).
//   TextLogitHead   z = normalize?(f) · Tᵀ / temperature, T (K, D) a fixed buffer of unit-norm class text
//                   embeddings (rows normalised when set; never trained). CLIP2Scene: no normalisation of f,
//                   temperature 1 (z = f·Tᵀ). Gradient flows into f only.
#pragma once
#include <memory>

#include "engine/nn/layers.h"

namespace leseg::models {

class ProjectionHead : public Module {
 public:
  ProjectionHead(int64_t in, int64_t out, bool bias, Generator& gen, DType dtype = DType::f32);
  std::string type_name() const override { return "ProjectionHead"; }
  Tensor forward(const Tensor& f) override;  // (N, in) -> (N, out)
  int64_t in_features() const { return linear_->in_features; }
  int64_t out_features() const { return linear_->out_features; }

 private:
  std::shared_ptr<Linear> linear_;
};

class MLPHead : public Module {
 public:
  MLPHead(int64_t in, int64_t hidden, int64_t out, Generator& gen, DType dtype = DType::f32, double bn_momentum = 0.1);
  std::string type_name() const override { return "MLPHead"; }
  Tensor forward(const Tensor& f) override;

 private:
  std::shared_ptr<Sequential> net_;
};

// CLIP2Scene's three 1x1 heads on the backbone's last features (REFERENCE-CODE §1.3), each optional (size 0 = absent):
//   final (text space, 512), local_feature (512), classifier (n_classes). Children named as in CLIP2Scene.
struct SegmentationHeadsConfig {
  int64_t in = 96;
  int64_t text_dim = 512;
  int64_t local_dim = 512;
  int64_t num_classes = 0;
  bool text_bias = true;  // ME's `final` conv has a bias; false for a bias-free text projection
  DType dtype = DType::f32;
  uint64_t seed = 0;
};
class SegmentationHeads : public Module {
 public:
  explicit SegmentationHeads(const SegmentationHeadsConfig& cfg);
  std::string type_name() const override { return "SegmentationHeads"; }
  // Each returns (N, out); error naming the head when it was not configured.
  Tensor text(const Tensor& f);
  Tensor local(const Tensor& f);
  Tensor classify(const Tensor& f);
  std::shared_ptr<ProjectionHead> final_head, local_head, classifier;
};

struct TextLogitOptions {
  double temperature = 1.0;       // z /= temperature (> 0)
  bool normalize_features = false;
};

class TextLogitHead : public Module {
 public:
  // text_embeddings (K, D) f32/f64 on any device; rows are L2-normalised into the buffer "text_embeddings".
  explicit TextLogitHead(const Tensor& text_embeddings, const TextLogitOptions& opts = {});
  std::string type_name() const override { return "TextLogitHead"; }
  Tensor forward(const Tensor& f) override;  // (N, D) -> (N, K)
  // Replaces the embeddings in place (same K and D), normalising rows.
  void set_text_embeddings(const Tensor& t);
  const Tensor& text_embeddings() const { return text_; }
  int64_t num_classes() const { return text_.size(0); }
  TextLogitOptions options;

 private:
  Tensor text_;
};

}  // namespace leseg::models
