// SPDX-License-Identifier: Apache-2.0
// Fused losses (issue 4): each op runs one kernel computing the loss and, when a gradient will be needed,
// the gradient too; the backward only scales the saved gradient by (incoming grad)/(mean divisor).
// All return finite values: a mean over zero rows (all ignored, N = 0) is 0 with zero gradients.
// logits (N, C) f32, f64, f16 or bf16 (CPU and CUDA), labels (N,) i64/i32. Half inputs: the loss value is
// f32 (as are class weights), accumulation is f32 or better, gradients come back in the input's dtype.
// (f16 gradients of a mean over N rows are O(1/N) and become f16 subnormals below 6e-5, i.e. lose
// precision for N beyond ~1e4: prefer bf16 there, or scale the loss.)
// Maths: kernels/losses/losses_math.h.
#pragma once
#include "engine/tensor.h"

namespace leseg {

struct CrossEntropyOptions {
  int64_t ignore_index = -1;
  Tensor class_weights;          // (C,) or undefined; mean = Σ w_y ℓ / Σ w_y over valid rows (PyTorch)
  double label_smoothing = 0.0;  // ε (PyTorch semantics, weighted by class_weights in the smoothing term)
};
// Softmax cross-entropy, mean over non-ignored rows → scalar. Gradient into logits.
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, const CrossEntropyOptions& opts = {});

// Soft-target CE mean_i[-Σ_k p_ik log softmax(z_i)_k] (ERDA). Gradient into logits and into p
// (∂/∂p = -log softmax(z)/N) unless stop_grad_target.
Tensor soft_cross_entropy(const Tensor& logits, const Tensor& target, bool stop_grad_target = false);

// Mean over rows of the entropy of softmax(z_i).
Tensor entropy(const Tensor& logits);

enum class KLDirection { PQ, QP };                // KL(p‖q) or KL(q‖p) with p = softmax(zp/T), q = softmax(zq/T)
enum class KLReduction { BatchMean, Sum, Mean };  // Σ/N (CLIP2Scene DistillKL), Σ, Σ/(N·C) (PyTorch 'mean')
// T²·KL, reduced. Gradient into both logit sets (detach the teacher to stop it).
Tensor kl_div(const Tensor& logits_p, const Tensor& logits_q, double temperature = 1.0,
              KLDirection direction = KLDirection::PQ, KLReduction reduction = KLReduction::BatchMean);

// Negative learning mean over valid rows of -log(1 - softmax(z_i)[ȳ_i]) in log-sum-exp form. C >= 2.
Tensor negative_learning(const Tensor& logits, const Tensor& labels, int64_t ignore_index = -1);

// LASS3D confidence split: teacher (N, C) → pseudo labels (argmax, i64), reliable (u8: max prob >= tau);
// loss_ce = mean CE(student, pseudo) over reliable rows, loss_nl = mean NL(student, pseudo) over the
// others. One fused kernel; gradient into the student only (the teacher is an EMA, never differentiated).
struct ConfidenceSplit {
  Tensor loss_ce, loss_nl, reliable, pseudo_labels;
};
ConfidenceSplit confidence_split(const Tensor& student_logits, const Tensor& teacher_logits, double tau);

// mean_i (1 - cos(a_i, b_i)), a, b (N, D); cos with ε = 1e-12 on the squared norms (PyTorch).
Tensor cosine_embedding_loss(const Tensor& a, const Tensor& b);
// mean over all elements of (a - b)², a and b of one shape.
Tensor mse_loss(const Tensor& a, const Tensor& b);

}  // namespace leseg
