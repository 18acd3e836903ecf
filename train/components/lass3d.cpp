// SPDX-License-Identifier: Apache-2.0
#include "train/components/lass3d.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/segment.h"
#include "engine/ops/shape_ops.h"
#include "train/components/common.h"

namespace leseg::train::lass3d {
namespace {

std::vector<int64_t> host_i64(const Tensor& t) { return t.to(Device::cpu()).to_vector<int64_t>(); }

void check_links(const Tensor& links, int64_t N, int64_t rows, const char* what) {
  if (!links.defined()) return;
  LESEG_CHECK(links.ndim() == 2 && links.size(1) == 2, "build_saaf_keys: ", what, " links must be (L, 2), got ",
              links.shape().str());
  std::vector<int64_t> v = host_i64(links);
  for (int64_t i = 0; i < links.size(0); ++i) {
    LESEG_CHECK(v[2 * i] >= 0 && v[2 * i] < N, "build_saaf_keys: ", what, " link ", i, " names point ", v[2 * i],
                " outside [0, ", N, ")");
    LESEG_CHECK(v[2 * i + 1] >= 0 && v[2 * i + 1] < rows, "build_saaf_keys: ", what, " link ", i,
                " names caption ", v[2 * i + 1], " outside [0, ", rows, ")");
  }
}

}  // namespace

ThresholdSchedule::ThresholdSchedule(double t0, double t1, bool prog) : tau0(t0), tau_end(t1), progressive(prog) {
  LESEG_CHECK(t0 >= 0.0 && t0 <= 1.0 && t1 >= 0.0 && t1 <= 1.0, "ThresholdSchedule: thresholds must lie in [0, 1], got ",
              t0, " -> ", t1);
}

double ThresholdSchedule::at(int64_t step, int64_t total_steps) const {
  if (!progressive) return tau0;
  LESEG_CHECK(total_steps > 0 && step >= 0, "ThresholdSchedule::at: step ", step, " of ", total_steps);
  const double t = std::min(1.0, double(step) / double(total_steps));
  return tau0 + (tau_end - tau0) * t;
}

UnlabelledLoss unlabelled_loss(const Tensor& student_logits, const Tensor& teacher_logits, double tau,
                               bool use_negative_learning) {
  LESEG_CHECK(tau >= 0.0 && tau <= 1.0, "lass3d::unlabelled_loss: tau ", tau, " outside [0, 1]");
  ConfidenceSplit s = confidence_split(student_logits, teacher_logits.detach(), tau);
  UnlabelledLoss out{s.loss_ce, s.loss_nl, s.reliable, s.pseudo_labels};
  if (!use_negative_learning)
    out.nl = Tensor::zeros(Shape{}, student_logits.dtype(), student_logits.device());
  return out;
}

void PseudoLabelMechanism::add(const UnlabelledLoss& split, const std::vector<int32_t>& gt, const Tensor& student_pred) {
  if (!split.reliable.defined()) return;
  add(split.reliable.to(Device::cpu()).to_vector<uint8_t>(),
      split.pseudo_labels.to(Device::cpu()).to(DType::i64).to_vector<int64_t>(), gt,
      student_pred.to(Device::cpu()).to(DType::i64).to_vector<int64_t>());
}

void PseudoLabelMechanism::add(const std::vector<uint8_t>& rel, const std::vector<int64_t>& pl,
                               const std::vector<int32_t>& gt, const std::vector<int64_t>& sp) {
  LESEG_CHECK(pl.size() == rel.size() && gt.size() == rel.size() && sp.size() == rel.size(),
              "PseudoLabelMechanism: ", rel.size(), " rows, but ", pl.size(), " pseudo-labels, ", gt.size(),
              " ground-truth labels and ", sp.size(), " student predictions");
  for (size_t i = 0; i < rel.size(); ++i) {
    ++rows;
    reliable += rel[i] != 0;
    if (gt[i] < 0) continue;
    ++gt_rows;
    teacher_correct += pl[i] == gt[i];
    student_correct += sp[i] == gt[i];
    if (rel[i]) {
      ++reliable_gt;
      reliable_correct += pl[i] == gt[i];
    } else {
      ++unreliable_gt;
      negative_hits += pl[i] == gt[i];
    }
  }
}

nlohmann::json PseudoLabelMechanism::record() const {
  nlohmann::json j = nlohmann::json::object();
  auto ratio = [&](const char* k, int64_t a, int64_t b) {
    if (b > 0) j[k] = double(a) / double(b);
  };
  ratio("reliable_fraction", reliable, rows);
  ratio("gt_coverage", gt_rows, rows);
  ratio("reliable_pseudo_accuracy", reliable_correct, reliable_gt);
  ratio("negative_hits_true", negative_hits, unreliable_gt);
  ratio("pseudo_accuracy", teacher_correct, gt_rows);
  ratio("student_accuracy_unlabelled", student_correct, gt_rows);
  return j;
}

SaafKeys build_saaf_keys(int64_t N, const Tensor& class_text, const Tensor& scene_captions, const Tensor& scene_links,
                         const Tensor& object_captions, const Tensor& object_links, bool scene_only) {
  LESEG_CHECK(N >= 0, "build_saaf_keys: num_points ", N, " < 0");
  LESEG_CHECK(class_text.defined() && class_text.ndim() == 2 && class_text.size(0) > 0,
              "build_saaf_keys: class_text must be (C, D) with C > 0");
  const int64_t C = class_text.size(0), D = class_text.size(1);
  auto rows_of = [&](const Tensor& t, const char* what) -> int64_t {
    if (!t.defined()) return 0;
    LESEG_CHECK(t.ndim() == 2 && t.size(1) == D, "build_saaf_keys: ", what, " must be (*, ", D, "), got ",
                t.shape().str());
    LESEG_CHECK(t.dtype() == class_text.dtype(), "build_saaf_keys: ", what, " dtype ", dtype_name(t.dtype()),
                " differs from class_text ", dtype_name(class_text.dtype()));
    return t.size(0);
  };
  const int64_t S = rows_of(scene_captions, "scene_captions"), O = rows_of(object_captions, "object_captions");
  check_links(scene_links, N, S, "scene");
  check_links(object_links, N, O, "object");
  std::vector<std::vector<int64_t>> extra(static_cast<size_t>(N));
  auto add = [&](const Tensor& links, int64_t base) {
    if (!links.defined()) return;
    std::vector<int64_t> v = host_i64(links);
    for (int64_t i = 0; i < links.size(0); ++i) extra[size_t(v[2 * i])].push_back(base + v[2 * i + 1]);
  };
  add(scene_links, C);
  if (!scene_only) add(object_links, C + S);
  std::vector<int64_t> offsets(size_t(N) + 1, 0), index;
  index.reserve(size_t(N * C));
  for (int64_t p = 0; p < N; ++p) {
    for (int64_t c = 0; c < C; ++c) index.push_back(c);
    auto& e = extra[size_t(p)];
    std::sort(e.begin(), e.end());
    e.erase(std::unique(e.begin(), e.end()), e.end());
    index.insert(index.end(), e.begin(), e.end());
    offsets[size_t(p) + 1] = int64_t(index.size());
  }
  std::vector<Tensor> parts{class_text};
  if (S > 0) parts.push_back(scene_captions);
  if (O > 0) parts.push_back(object_captions);
  SaafKeys k;
  k.bank = parts.size() == 1 ? class_text : concat(parts, 0);
  const Device dev = class_text.device();
  k.offsets = attention_offsets(offsets, dev);  // with its host values: the attention reads nothing back
  k.index = Tensor::from_vector(index, Shape{int64_t(index.size())}, dev);
  k.host_offsets = std::move(offsets);
  k.host_index = std::move(index);
  return k;
}

Tensor swap_argmax_with(const Tensor& logits, const std::vector<int64_t>& drawn) {
  LESEG_CHECK(logits.defined() && logits.ndim() == 2, "lass3d::swap_argmax_with: logits must be (R, C), got ",
              logits.defined() ? logits.shape().str() : std::string("undefined"));
  const int64_t R = logits.size(0), C = logits.size(1);
  LESEG_CHECK(int64_t(drawn.size()) == R, "lass3d::swap_argmax_with: ", drawn.size(), " drawn classes for ", R, " rows");
  if (R == 0) return logits.detach();
  std::vector<int64_t> flat(static_cast<size_t>(R)), cols(static_cast<size_t>(C));
  for (int64_t r = 0; r < R; ++r) {
    const int64_t c = drawn[size_t(r)];
    LESEG_CHECK(c >= 0 && c < C, "lass3d::swap_argmax_with: drawn class ", c, " of row ", r, " outside [0, ", C, ")");
    flat[size_t(r)] = r * C + c;
  }
  for (int64_t c = 0; c < C; ++c) cols[size_t(c)] = c;
  NoGradGuard ng;
  const Device d = logits.device();
  const Tensor x = logits.detach().to(DType::f32);
  const ValuesIndices top = max(x, 1, /*keepdim=*/true);  // (R, 1): each row's maximum and its first column
  const Tensor at_drawn =
      index_select(x.reshape(Shape{R * C}), 0, Tensor::from_vector(flat, Shape{R}, d)).reshape(Shape{R, 1});
  const Tensor col = Tensor::from_vector(cols, Shape{1, C}, d);
  const Tensor c = Tensor::from_vector(drawn, Shape{R, 1}, d);
  return where(eq(col, top.indices), at_drawn, where(eq(col, c), top.values, x)).to(logits.dtype());
}

Tensor link_scene_caption(const Tensor& pairs, int64_t caption_row) {
  LESEG_CHECK(pairs.defined() && pairs.ndim() == 2 && pairs.size(1) == 2, "link_scene_caption: pairs must be (P, 2)");
  LESEG_CHECK(caption_row >= 0, "link_scene_caption: caption row ", caption_row, " < 0");
  std::vector<int64_t> v = host_i64(pairs);
  const int64_t P = pairs.size(0);
  for (int64_t i = 0; i < P; ++i) v[size_t(2 * i + 1)] = caption_row;
  return Tensor::from_vector(v, Shape{P, 2});
}

Tensor link_object_captions(const Tensor& pairs, const Tensor& sam_masks, const Tensor& caption_object_ids,
                            int64_t row_offset) {
  LESEG_CHECK(caption_object_ids.defined() && caption_object_ids.ndim() == 1,
              "link_object_captions: caption_object_ids must be (M,)");
  Tensor mask_at = gather_at_pairs(sam_masks, pairs);  // (P,) i64
  std::multimap<int64_t, int64_t> by_mask;
  std::vector<int64_t> ids = host_i64(caption_object_ids);
  for (size_t m = 0; m < ids.size(); ++m)
    if (ids[m] >= 0) by_mask.emplace(ids[m], row_offset + int64_t(m));
  std::vector<int64_t> pr = host_i64(pairs), mk = host_i64(mask_at), out;
  for (size_t i = 0; i < mk.size(); ++i) {
    if (mk[i] < 0) continue;
    auto range = by_mask.equal_range(mk[i]);
    for (auto it = range.first; it != range.second; ++it) {
      out.push_back(pr[2 * i]);
      out.push_back(it->second);
    }
  }
  return Tensor::from_vector(out, Shape{int64_t(out.size() / 2), 2});
}

SAAF::SAAF(const SaafOptions& o, Generator& gen) : opts(o) {
  LESEG_CHECK(o.feat_dim > 0 && o.text_dim > 0 && o.heads > 0 && o.attn_dim % o.heads == 0,
              "SAAF: feat_dim (", o.feat_dim, "), text_dim (", o.text_dim, ") must be > 0 and attn_dim (", o.attn_dim,
              ") a multiple of heads (", o.heads, ")");
  q_proj = register_module("q_proj", std::make_shared<Linear>(o.feat_dim, o.attn_dim, true, gen, o.dtype));
  k_proj = register_module("k_proj", std::make_shared<Linear>(o.text_dim, o.attn_dim, true, gen, o.dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(o.text_dim, o.attn_dim, true, gen, o.dtype));
  o_proj = register_module("o_proj", std::make_shared<Linear>(o.attn_dim, o.feat_dim, true, gen, o.dtype));
  gate = register_module("gate", std::make_shared<Linear>(o.feat_dim + o.attn_dim, o.feat_dim, true, gen, o.dtype));
}

Tensor SAAF::forward(const Tensor& f, const SaafKeys& keys) {
  LESEG_CHECK(f.defined() && f.ndim() == 2 && f.size(1) == opts.feat_dim, "SAAF: features must be (N, ",
              opts.feat_dim, "), got ", f.defined() ? f.shape().str() : std::string("undefined"));
  const int64_t N = f.size(0);
  LESEG_CHECK(keys.offsets.defined() && keys.offsets.ndim() == 1 && keys.offsets.size(0) == N + 1,
              "SAAF: key offsets must be (N + 1,) = (", N + 1, ",), got ",
              keys.offsets.defined() ? keys.offsets.shape().str() : std::string("undefined"));
  LESEG_CHECK(keys.bank.defined() && keys.bank.ndim() == 2 && keys.bank.size(1) == opts.text_dim,
              "SAAF: text bank must be (B, ", opts.text_dim, ")");
  const Device dev = f.device();
  Tensor kb = k_proj->forward(keys.bank.to(dev));  // (B, A)
  Tensor vb = v_proj->forward(keys.bank.to(dev));  // (B, A)
  Tensor idx = keys.index.to(dev);
  Tensor k = index_select(kb, 0, idx), v = index_select(vb, 0, idx);  // (K, A)
  Tensor q = q_proj->forward(f);                                      // (N, A)
  Tensor t;
  if (opts.mode == SaafMode::mixed_attention) {
    std::vector<int64_t> one_each(size_t(N) + 1);
    for (int64_t p = 0; p <= N; ++p) one_each[size_t(p)] = p;
    Tensor cu_q = attention_offsets(one_each, dev);  // one query per point, made with its host values
    t = multi_head_attention(q, k, v, cu_q, keys.offsets.to(dev), opts.heads);  // (N, A)
  } else {
    t = class_weighted_text(q, kb, vb, keys);
  }
  Tensor g = sigmoid(gate->forward(concat({f, t}, 1)));                             // (N, F)
  last_text = t;
  last_gate = g;
  return add(f, mul(g, o_proj->forward(t)));
}

Tensor SAAF::class_weighted_text(const Tensor& q, const Tensor& kb, const Tensor& vb, const SaafKeys& keys) const {
  const int64_t N = q.size(0), A = q.size(1), C = opts.num_classes, B = keys.bank.size(0);
  LESEG_CHECK(C > 0 && C <= B, "SAAF (class_weighted): num_classes ", C, " must be in [1, ", B,
              "] (the text bank's first rows are the class embeddings)");
  const Device dev = q.device();
  // The point's class similarities, from the same query / key projections as the attention variant.
  Tensor kc = index_select(kb, 0, Tensor::arange(C, DType::i64, dev));       // (C, A)
  Tensor s = softmax(mul(matmul(q, kc, false, true), 1.0 / std::sqrt(double(A))), 1);  // (N, C)
  // (point, caption row) pairs of the key sets: the keys beyond the C class rows.
  // Host values when the keys carry them (build_saaf_keys), else read from the tensors.
  const std::vector<int64_t> off = !keys.host_offsets.empty() ? keys.host_offsets
                                                              : keys.offsets.to(Device::cpu()).to_vector<int64_t>();
  const std::vector<int64_t> idx = !keys.host_offsets.empty() ? keys.host_index
                                                              : keys.index.to(Device::cpu()).to_vector<int64_t>();
  std::vector<int64_t> pp, rr;
  for (int64_t p = 0; p < N; ++p)
    for (int64_t j = off[size_t(p)]; j < off[size_t(p) + 1]; ++j)
      if (idx[size_t(j)] >= C) pp.push_back(p), rr.push_back(idx[size_t(j)]);
  if (pp.empty()) return Tensor::zeros(Shape{N, A}, q.dtype(), dev);
  const int64_t P = int64_t(pp.size());
  Tensor pt = Tensor::from_vector(pp, Shape{P}, dev), rt = Tensor::from_vector(rr, Shape{P}, dev);
  // The captions' class profiles: fixed properties of the text (no gradient).
  Tensor a;
  {
    NoGradGuard ng;
    Tensor bank = l2_normalize(keys.bank.to(dev).to(q.dtype()), 1);
    Tensor cls = index_select(bank, 0, Tensor::arange(C, DType::i64, dev));
    a = softmax(mul(matmul(index_select(bank, 0, rt), cls, false, true), 1.0 / opts.caption_temperature), 1);  // (P, C)
  }
  Tensor w = sum(mul(index_select(s, 0, pt), a), 1);                          // (P,) weight of each caption
  Tensor wn = div(w, add(segment_gather(segment_sum(w, pt, N), pt), 1e-12));  // normalised per point
  return segment_sum(mul(index_select(vb, 0, rt), wn.reshape(Shape{P, 1})), pt, N);  // (N, A)
}

FeatureKD::FeatureKD(int64_t student_dim, int64_t teacher_dim, KDMode m, Generator& gen, double T, DType dtype)
    : mode(m), temperature(T) {
  LESEG_CHECK(T > 0.0, "FeatureKD: temperature must be > 0, got ", T);
  head = register_module("head", std::make_shared<Linear>(student_dim, teacher_dim, true, gen, dtype));
}

Tensor FeatureKD::loss(const Tensor& student, const Tensor& teacher) {
  LESEG_CHECK(student.defined() && teacher.defined() && student.ndim() == 2 && teacher.ndim() == 2 &&
                  student.size(0) == teacher.size(0) && teacher.size(1) == head->out_features,
              "FeatureKD: student (N, ", head->in_features, ") and teacher (N, ", head->out_features,
              ") expected, got ", student.defined() ? student.shape().str() : "undefined", " and ",
              teacher.defined() ? teacher.shape().str() : "undefined");
  Tensor s = head->forward(student);
  Tensor t = teacher.detach();
  if (mode == KDMode::mse) return mse_loss(s, t);
  return kl_div(t, s, temperature, KLDirection::PQ, KLReduction::BatchMean);  // KL(teacher ‖ student)
}

}  // namespace leseg::train::lass3d
