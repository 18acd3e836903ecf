// SPDX-License-Identifier: Apache-2.0
#include "models/heads.h"

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/nn_functional.h"

namespace leseg::models {

ProjectionHead::ProjectionHead(int64_t in, int64_t out, bool bias, Generator& gen, DType dtype) {
  LESEG_CHECK(in > 0 && out > 0, "ProjectionHead: sizes ", in, " -> ", out, " must be positive");
  linear_ = register_module("linear", std::make_shared<Linear>(in, out, bias, gen, dtype));
}

Tensor ProjectionHead::forward(const Tensor& f) {
  LESEG_CHECK(f.defined() && f.ndim() == 2 && f.size(1) == linear_->in_features, "ProjectionHead: features must be (N, ",
              linear_->in_features, "), got ", f.defined() ? f.str() : std::string("undefined"));
  return (*linear_)(f);
}

MLPHead::MLPHead(int64_t in, int64_t hidden, int64_t out, Generator& gen, DType dtype, double bn_momentum) {
  LESEG_CHECK(in > 0 && hidden > 0 && out > 0, "MLPHead: sizes ", in, ", ", hidden, ", ", out, " must be positive");
  net_ = register_module("net", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                    std::make_shared<Linear>(in, hidden, true, gen, dtype),
                                    std::make_shared<BatchNorm1d>(hidden, 1e-5, bn_momentum, true, dtype),
                                    std::make_shared<ReLU>(), std::make_shared<Linear>(hidden, out, true, gen, dtype)}));
}

Tensor MLPHead::forward(const Tensor& f) { return net_->forward(f); }

SegmentationHeads::SegmentationHeads(const SegmentationHeadsConfig& c) {
  LESEG_CHECK(c.in > 0 && c.text_dim >= 0 && c.local_dim >= 0 && c.num_classes >= 0, "SegmentationHeads: sizes in ",
              c.in, ", text ", c.text_dim, ", local ", c.local_dim, ", classes ", c.num_classes, " out of range");
  Generator gen(c.seed);
  if (c.text_dim > 0)
    final_head = register_module("final", std::make_shared<ProjectionHead>(c.in, c.text_dim, c.text_bias, gen, c.dtype));
  if (c.local_dim > 0)
    local_head = register_module("local_feature", std::make_shared<ProjectionHead>(c.in, c.local_dim, true, gen, c.dtype));
  if (c.num_classes > 0)
    classifier = register_module("classifier", std::make_shared<ProjectionHead>(c.in, c.num_classes, true, gen, c.dtype));
}

Tensor SegmentationHeads::text(const Tensor& f) {
  LESEG_CHECK(final_head, "SegmentationHeads: no text projection (text_dim = 0)");
  return final_head->forward(f);
}
Tensor SegmentationHeads::local(const Tensor& f) {
  LESEG_CHECK(local_head, "SegmentationHeads: no local feature head (local_dim = 0)");
  return local_head->forward(f);
}
Tensor SegmentationHeads::classify(const Tensor& f) {
  LESEG_CHECK(classifier, "SegmentationHeads: no classifier (num_classes = 0)");
  return classifier->forward(f);
}

namespace {
Tensor normalized_rows(const Tensor& t, const char* what) {
  LESEG_CHECK(t.defined() && t.ndim() == 2 && t.size(0) > 0 && t.size(1) > 0 &&
                  (t.dtype() == DType::f32 || t.dtype() == DType::f64),
              what, ": text embeddings must be (K, D) f32/f64 with K, D > 0, got ",
              t.defined() ? t.str() : std::string("undefined"));
  NoGradGuard ng;
  return l2_normalize(t.detach(), 1);
}
}  // namespace

TextLogitHead::TextLogitHead(const Tensor& text_embeddings, const TextLogitOptions& opts) : options(opts) {
  text_ = register_buffer("text_embeddings", normalized_rows(text_embeddings, "TextLogitHead"));
}

void TextLogitHead::set_text_embeddings(const Tensor& t) {
  Tensor n = normalized_rows(t, "TextLogitHead::set_text_embeddings");
  LESEG_CHECK(n.shape() == text_.shape() && n.dtype() == text_.dtype(), "TextLogitHead::set_text_embeddings: ",
              n.str(), " does not match the buffer ", text_.str());
  text_.copy_(n);
  text_.bump_version();
}

Tensor TextLogitHead::forward(const Tensor& f) {
  LESEG_CHECK(f.defined() && f.ndim() == 2 && f.size(1) == text_.size(1) && f.dtype() == text_.dtype() &&
                  f.device() == text_.device(),
              "TextLogitHead: features must be (N, ", text_.size(1), ") ", dtype_name(text_.dtype()), " on ",
              text_.device().str(), ", got ", f.defined() ? f.str() : std::string("undefined"));
  LESEG_CHECK(options.temperature > 0, "TextLogitHead: temperature ", options.temperature, " must be > 0");
  Tensor x = options.normalize_features ? l2_normalize(f, 1) : f;
  Tensor z = matmul_nt(x, text_);
  return options.temperature == 1.0 ? z : mul(z, 1.0 / options.temperature);
}

}  // namespace leseg::models
