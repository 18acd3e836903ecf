// SPDX-License-Identifier: Apache-2.0
// LASS3D building blocks (METHODS §2.5, REFERENCE-CODE §5; no public code, so most numbers are [reading]):
//   * ThresholdSchedule: τ(t) = τ0 + (τ_end − τ0)·min(t / T, 1) (progressive), or τ0 (fixed: the ablation).
//   * unlabelled_loss: teacher softmax -> reliable rows (max prob >= τ) get CE to the teacher argmax, the
//     others negative learning -L = −mean log(1 − q_s[ȳ]); both terms named; teacher never differentiated.
//   * SAAF (semantic-aware adaptive fusion): each point's query W_q f attends over ITS OWN key set of text
//     embeddings (all class embeddings, the scene captions of the views that see it, the object captions of
//     the SAM regions it falls in); keys W_k t, values W_v t are projected once per text row and gathered
//     per point; the fused attention op runs one sequence per point (cu_q = 0..N, cu_k = key offsets).
//       t̃ = attention(...)  (N, A);  g = σ(W_g [f; t̃])  (N, F);  f′ = f + g ⊙ W_o t̃.
//     Scene-only text (ablation) drops the object captions when the key sets are built.
//   * FeatureKD: features -> a linear head -> target features (detached): MSE (default [reading]) or
//     KL(target ‖ prediction) over feature channels (softmax, T² scaling). The regime's `lass3d.kd_direction`
//     picks the sides: text_to_backbone (default) predicts the student's own text-enhanced features sg(f′) from
//     its backbone features f; to_teacher (the earlier reading) predicts sg(f_teacher) from f′.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include <nlohmann/json.hpp>

namespace leseg::train::lass3d {

class ThresholdSchedule {
 public:
  // progressive: linear from tau0 at step 0 to tau_end at step total_steps (then held). Fixed: tau0.
  ThresholdSchedule(double tau0 = 0.9, double tau_end = 0.7, bool progressive = true);
  double at(int64_t step, int64_t total_steps) const;
  double tau0, tau_end;
  bool progressive;
};

struct UnlabelledLoss {
  Tensor ce;              // scalar: mean CE(student, teacher argmax) over reliable rows
  Tensor nl;              // scalar: mean negative learning over unreliable rows (0 when NL is off)
  Tensor reliable;        // (N,) u8
  Tensor pseudo_labels;   // (N,) i64 teacher argmax
  // {"pseudo_ce", ce}, {"neg", nl}: the regime adds them to its loss terms.
  std::vector<std::pair<std::string, Tensor>> terms() const { return {{"pseudo_ce", ce}, {"neg", nl}}; }
};
// student_logits, teacher_logits (N, C). use_negative_learning = false (MeanTeacher baseline, +SAAF rows):
// the unreliable rows contribute nothing (nl = 0, no gradient).
UnlabelledLoss unlabelled_loss(const Tensor& student_logits, const Tensor& teacher_logits, double tau,
                               bool use_negative_learning = true);

// The shuffled negative control's relabelling of teacher logits (R, C): in each row r the first maximum (the column
// std::max_element would pick) trades places with column drawn[r] (R host values in [0, C)), on the logits' device
// without reading them back; the result is f32 values converted back to the logits' dtype, no gradient.
Tensor swap_argmax_with(const Tensor& logits, const std::vector<int64_t>& drawn);

// Mechanism statistics of the unlabelled terms over training steps (diagnostics, never a loss), accumulated by the
// regime and written into the next evaluation record: reliable_fraction (reliable rows / unlabelled rows), and on the
// rows whose ground truth is known (gt >= 0): reliable_pseudo_accuracy (teacher argmax == gt on reliable rows),
// negative_hits_true (unreliable rows whose negative label — the teacher argmax that NL pushes away — IS the true
// class; counted whether NL is on or not), pseudo_accuracy (teacher argmax on all such rows), student_accuracy_unlabelled
// (the student's argmax), gt_coverage (rows with a known class / unlabelled rows).
struct PseudoLabelMechanism {
  int64_t rows = 0, reliable = 0, gt_rows = 0, reliable_gt = 0, reliable_correct = 0, unreliable_gt = 0,
          negative_hits = 0, teacher_correct = 0, student_correct = 0;
  // split: the unlabelled_loss of the rows; gt (rows,) with -1 = unknown; student_pred (rows,) i64 argmax.
  void add(const UnlabelledLoss& split, const std::vector<int32_t>& gt, const Tensor& student_pred);
  // The same from host values: reliable (rows) 0/1, pseudo-labels, GT and the student's argmax.
  void add(const std::vector<uint8_t>& reliable, const std::vector<int64_t>& pseudo_labels,
           const std::vector<int32_t>& gt, const std::vector<int64_t>& student_pred);
  nlohmann::json record() const;  // empty when nothing was added; a ratio is left out when its denominator is 0
};

// Per-point key sets over a text bank = [class embeddings (C) ; scene captions (S) ; object captions (O)].
struct SaafKeys {
  Tensor bank;     // (C + S + O, D)
  Tensor offsets;  // (N + 1,) i64 key offsets per point (the attention's cu_k)
  Tensor index;    // (K,) i64 bank row of each key, grouped by point, ascending within a point
  // The same offsets and index on the host (build_saaf_keys fills them; empty: read from the tensors).
  std::vector<int64_t> host_offsets, host_index;
};
// class_text (C, D); scene_captions (S, D) or undefined; object_captions (O, D) or undefined.
// scene_links / object_links: (L, 2) i64 (point, caption row) or undefined; duplicates are merged.
// Every point gets the C class keys; scene_only drops the object links.
SaafKeys build_saaf_keys(int64_t num_points, const Tensor& class_text, const Tensor& scene_captions,
                         const Tensor& scene_links, const Tensor& object_captions, const Tensor& object_links,
                         bool scene_only = false);
// Links from one view: every paired point -> scene caption `caption_row`.
Tensor link_scene_caption(const Tensor& pairs, int64_t caption_row);
// Links from one view: paired point -> object caption whose SAM mask id equals the mask at its pixel.
// sam_masks (H, W) i32; caption_object_ids (M,) i32; the caption rows are row_offset + m.
Tensor link_object_captions(const Tensor& pairs, const Tensor& sam_masks, const Tensor& caption_object_ids,
                            int64_t row_offset);

// How SAAF turns a point's key set into its text feature t̃:
//   mixed_attention: one softmax attention of the point's query over all its keys (classes and captions alike)
//                    [reading; the earlier default].
//   class_weighted:  the paper's wording ("similarity to each class text embedding ... used to weighted-fuse the
//                    text features") [reading]: the point's class similarities s = softmax_c(⟨W_q f, W_k t_c⟩/√A)
//                    weight each of its captions k by w_k = Σ_c s_c a_kc, where a_k = softmax_c(cos(cap_k, t_c)/τ)
//                    is the caption's own class profile (τ = caption_temperature, a fixed property of the text);
//                    t̃ = Σ_k (w_k / Σ_k' w_k') W_v cap_k. A point with no caption gets t̃ = 0.
enum class SaafMode { mixed_attention, class_weighted };

struct SaafOptions {
  int64_t feat_dim = 96;   // F: point feature width
  int64_t text_dim = 512;  // D: text embedding width
  int64_t attn_dim = 64;   // A = heads · head_dim
  int64_t heads = 4;
  DType dtype = DType::f32;
  SaafMode mode = SaafMode::mixed_attention;
  int64_t num_classes = 0;            // class_weighted: the bank's first C rows are the class embeddings
  double caption_temperature = 0.07;  // class_weighted: τ of the captions' class profiles
};

class SAAF : public Module {
 public:
  SAAF(const SaafOptions& opts, Generator& gen);
  std::string type_name() const override { return "SAAF"; }
  // f (N, F) -> f′ (N, F).
  Tensor forward(const Tensor& f, const SaafKeys& keys);
  // The attended text t̃ (N, A) and gate g (N, F) of the last forward (for inspection/tests).
  Tensor last_text, last_gate;
  SaafOptions opts;
  // class_weighted's t̃ (N, A) from the query q (N, A) and the projected bank keys kb / values vb (B, A).
  Tensor class_weighted_text(const Tensor& q, const Tensor& kb, const Tensor& vb, const SaafKeys& keys) const;
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj, gate;
};

enum class KDMode { mse, kl };
class FeatureKD : public Module {
 public:
  FeatureKD(int64_t student_dim, int64_t teacher_dim, KDMode mode, Generator& gen, double temperature = 1.0,
            DType dtype = DType::f32);
  std::string type_name() const override { return "FeatureKD"; }
  // student (N, Fs) text-enhanced features, teacher (N, Ft) (detached here) -> scalar.
  Tensor loss(const Tensor& student, const Tensor& teacher);
  KDMode mode;
  double temperature;
  std::shared_ptr<Linear> head;
};

}  // namespace leseg::train::lass3d
