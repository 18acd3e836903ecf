// SPDX-License-Identifier: Apache-2.0
#include "train/components/erda.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/autograd.h"
#include "engine/distributed/comm.h"
#include "engine/error.h"
#include "engine/nn/init.h"
#include "engine/ops/attention.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/losses.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/segment.h"
#include "engine/ops/shape_ops.h"
#include "train/components/controls.h"

namespace leseg::train::erda {
namespace {

std::vector<int64_t> host_i64(const Tensor& t) { return t.to(Device::cpu()).to_vector<int64_t>(); }

Tensor cos_logits(const Tensor& h, const Tensor& P) {
  return matmul_nt(l2_normalize(h, -1, 1e-12), l2_normalize(P, -1, 1e-12));
}

}  // namespace

ProjectionMLP2::ProjectionMLP2(int64_t d, Generator& gen, bool leaky, DType dtype) : leaky_relu(leaky) {
  fc1 = register_module("fc1", std::make_shared<Linear>(d, d, true, gen, dtype));
  bn = register_module("bn", std::make_shared<BatchNorm1d>(d, 1e-6, kBnMomentum, true, dtype));
  fc2 = register_module("fc2", std::make_shared<Linear>(d, d, true, gen, dtype));
}

Tensor ProjectionMLP2::forward(const Tensor& x) {
  Tensor y = bn->forward(fc1->forward(x));
  y = leaky_relu ? leseg::leaky_relu(y, 0.2) : relu(y);
  return fc2->forward(y);
}

PrototypeMemory::PrototypeMemory(const PrototypeOptions& o, Generator& gen) : opts(o) {
  LESEG_CHECK(o.num_classes > 0 && o.dim > 0, "erda::PrototypeMemory: num_classes (", o.num_classes, ") and dim (",
              o.dim, ") must be > 0");
  LESEG_CHECK(o.momentum >= 0.0 && o.momentum <= 1.0, "erda::PrototypeMemory: momentum ", o.momentum,
              " outside [0, 1]");
  Tensor p = Tensor::zeros(Shape{o.num_classes, o.dim}, o.dtype);
  if (o.xavier_init) init::xavier_uniform_(p, gen);
  prototypes = register_buffer("prototypes", p);
}

std::pair<Tensor, Tensor> PrototypeMemory::class_means(const Tensor& h, const Tensor& labels) const {
  LESEG_CHECK(h.defined() && h.ndim() == 2 && h.size(1) == opts.dim, "erda::PrototypeMemory: h must be (N, ",
              opts.dim, "), got ", h.defined() ? h.shape().str() : std::string("undefined"));
  LESEG_CHECK(labels.defined() && labels.ndim() == 1 && labels.size(0) == h.size(0) &&
                  (labels.dtype() == DType::i64 || labels.dtype() == DType::i32),
              "erda::PrototypeMemory: labels must be (N,) i32/i64 with N = ", h.size(0));
  // On the features' device, with no host read: a label >= C is the segment kernels' error (raised at once on the
  // CPU, through the device error slot on CUDA), naming the row.
  NoGradGuard ng;
  const Device dev = h.device();
  Tensor grp = (labels.dtype() == DType::i64 ? labels : labels.to(DType::i64)).to(dev);
  Tensor means, counts;
  try {
    means = segment_mean(h.detach(), grp, opts.num_classes);
    counts = segment_sum(Tensor::ones(Shape{h.size(0)}, DType::f64, dev), grp, opts.num_classes).to(DType::i64);
  } catch (const std::invalid_argument& e) {  // the CPU kernels' range check
    LESEG_FAIL("erda::PrototypeMemory: a label is >= the ", opts.num_classes, " classes (", e.what(), ")");
  }
  if (dist::Communicator* g = dist::training_group()) {
    // Data-parallel: the class means of the global batch (Σ_r n_r,c · mean_r,c / Σ_r n_r,c), so that every rank
    // updates the prototypes alike, as one process on the global batch would (a host all-reduce: read here).
    std::vector<int64_t> cnt = counts.to(Device::cpu()).to_vector<int64_t>();
    Tensor n = Tensor::from_vector(cnt, Shape{opts.num_classes, 1}).to(DType::f64);
    Tensor sums = mul(means.to(DType::f64).to(Device::cpu()), n);
    g->all_reduce(sums);
    g->all_reduce(cnt);
    Tensor nt = Tensor::from_vector(cnt, Shape{opts.num_classes, 1}).to(DType::f64);
    means = div(sums, maximum(nt, 1.0)).to(means.dtype()).to(dev);
    counts = Tensor::from_vector(cnt, Shape{opts.num_classes}).to(dev);
  }
  return {means, counts};
}

void PrototypeMemory::update(const Tensor& h, const Tensor& labels) {
  auto [c, counts] = class_means(h, labels);
  NoGradGuard ng;
  const double m = opts.momentum;
  Tensor P = prototypes;
  Tensor blended = add(mul(P, m), mul(c.to(P.dtype()).to(P.device()), 1.0 - m));
  if (!opts.global) {
    Tensor present = gt(counts, 0.0).reshape(Shape{opts.num_classes, 1}).to(P.device());
    blended = where(present, blended, P);
  }
  prototypes.copy_(blended);
}

Tensor PrototypeMemory::similarity(const Tensor& h, const Tensor& P) const {
  const Tensor& protos = P.defined() ? P : prototypes;
  LESEG_CHECK(h.defined() && h.ndim() == 2 && h.size(1) == protos.size(1), "erda::PrototypeMemory::similarity: h (N, ",
              protos.size(1), ") expected, got ", h.defined() ? h.shape().str() : std::string("undefined"));
  return cos_logits(h, protos.detach());
}

Tensor PrototypeMemory::step(const Tensor& h, const Tensor& labels) {
  if (opts.global) {
    Tensor before = prototypes.clone();  // the update below must not touch what the logits saved
    Tensor s = similarity(h, before);
    update(h, labels);
    return s;
  }
  update(h, labels);
  return similarity(h, prototypes.clone());
}

Tensor unlabelled_rows(const Tensor& labels) {
  LESEG_CHECK(labels.defined() && labels.ndim() == 1, "erda::unlabelled_rows: labels must be 1-D");
  std::vector<int64_t> lab = host_i64(labels), rows;
  for (size_t i = 0; i < lab.size(); ++i)
    if (lab[i] < 0) rows.push_back(int64_t(i));
  return Tensor::from_vector(rows, Shape{int64_t(rows.size())}, labels.device());
}

Tensor erda_loss(const Tensor& logits, const Tensor& pseudo_logits, const Tensor& rows, const ErdaLossOptions& o) {
  LESEG_CHECK(logits.defined() && pseudo_logits.defined() && logits.ndim() == 2 &&
                  logits.shape() == pseudo_logits.shape(),
              "erda_loss: logits and pseudo_logits must be one (N, C) shape, got ",
              logits.defined() ? logits.shape().str() : "undefined", " and ",
              pseudo_logits.defined() ? pseudo_logits.shape().str() : "undefined");
  LESEG_CHECK(o.weight >= 0.0, "erda_loss: weight must be >= 0, got ", o.weight);
  Tensor z = logits, s = o.coadapt ? pseudo_logits : pseudo_logits.detach();
  if (rows.defined()) {
    LESEG_CHECK(rows.ndim() == 1, "erda_loss: rows must be 1-D indices");
    if (rows.size(0) == 0) return Tensor::zeros(Shape{}, logits.dtype(), logits.device());
    Tensor r = rows.to(logits.device());
    z = index_select(z, 0, r);
    s = index_select(s, 0, r);
  }
  if (z.size(0) == 0) return Tensor::zeros(Shape{}, logits.dtype(), logits.device());
  Tensor term;
  switch (o.term) {
    case ErdaTerm::erda: term = soft_cross_entropy(z, softmax(s, -1), !o.coadapt); break;
    case ErdaTerm::er: term = entropy(s); break;
    case ErdaTerm::da: term = kl_div(s, z, 1.0, KLDirection::PQ, KLReduction::BatchMean); break;
  }
  return mul(term, o.weight);
}

QueryPrototypes::QueryPrototypes(const QueryPrototypeOptions& o, Generator& gen) : opts(o) {
  LESEG_CHECK(o.num_classes > 0 && o.feat_dim > 0 && o.proto_dim > 0 && o.heads > 0 && o.attn_dim % o.heads == 0,
              "erda::QueryPrototypes: sizes must be > 0 and attn_dim (", o.attn_dim, ") a multiple of heads (", o.heads,
              ")");
  Tensor q = Tensor::empty(Shape{o.num_classes, o.proto_dim}, o.dtype);
  init::xavier_uniform_(q, gen);
  queries = register_parameter("queries", q);
  q_proj = register_module("q_proj", std::make_shared<Linear>(o.proto_dim, o.attn_dim, true, gen, o.dtype));
  k_proj = register_module("k_proj", std::make_shared<Linear>(o.feat_dim, o.attn_dim, true, gen, o.dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(o.feat_dim, o.attn_dim, true, gen, o.dtype));
  o_proj = register_module("o_proj", std::make_shared<Linear>(o.attn_dim, o.proto_dim, true, gen, o.dtype));
}

const QueryPrototypes::Offsets& QueryPrototypes::offsets(const std::vector<int64_t>& cu_pixels, Device dev) {
  LESEG_CHECK(cu_pixels.size() >= 2 && cu_pixels.front() == 0,
              "erda::QueryPrototypes: cu_pixels must be (B + 1,) offsets from 0 with B >= 1, got ", cu_pixels.size(),
              " entries");
  for (size_t b = 1; b < cu_pixels.size(); ++b)
    LESEG_CHECK(cu_pixels[b] >= cu_pixels[b - 1], "erda::QueryPrototypes: cu_pixels decreases at ", b, " (",
                cu_pixels[b - 1], " -> ", cu_pixels[b], ")");
  for (const Offsets& o : offsets_)
    if (o.cu == cu_pixels && o.dev == dev) return o;
  // New set sizes: the device tensors are made once and kept, so that the fused attention finds its schedule
  // cached (keyed by these tensors) on every later batch of the same sizes and reads nothing from the device.
  if (offsets_.size() >= 8) offsets_.erase(offsets_.begin());
  const int64_t B = int64_t(cu_pixels.size()) - 1, C = opts.num_classes;
  std::vector<int64_t> rep(size_t(B * C)), cu(size_t(B) + 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) rep[size_t(b * C + c)] = c;
  for (int64_t b = 0; b <= B; ++b) cu[size_t(b)] = b * C;
  Offsets o;
  o.cu = cu_pixels;
  o.dev = dev;
  o.rep = Tensor::from_vector(rep, Shape{B * C}, dev);
  o.cu_q = attention_offsets(cu, dev);  // with their host values: the attention reads nothing back
  o.cu_k = attention_offsets(cu_pixels, dev);
  offsets_.push_back(std::move(o));
  return offsets_.back();
}

Tensor QueryPrototypes::forward(const Tensor& pixels, const std::vector<int64_t>& cu_pixels) {
  LESEG_CHECK(pixels.defined() && pixels.ndim() == 2 && pixels.size(1) == opts.feat_dim,
              "erda::QueryPrototypes: pixels must be (Np, ", opts.feat_dim, ")");
  const Offsets& o = offsets(cu_pixels, pixels.device());
  LESEG_CHECK(cu_pixels.back() == pixels.size(0), "erda::QueryPrototypes: cu_pixels ends at ", cu_pixels.back(),
              " but there are ", pixels.size(0), " pixels");
  Tensor qrep = index_select(queries, 0, o.rep);  // (B·C, d)
  Tensor out = multi_head_attention(q_proj->forward(qrep), k_proj->forward(pixels), v_proj->forward(pixels), o.cu_q,
                                    o.cu_k, opts.heads);
  return o_proj->forward(out);  // (B·C, proto_dim)
}

Tensor QueryPrototypes::similarity(const Tensor& h, const Tensor& prototypes, const std::vector<int64_t>& cu) const {
  const int64_t C = opts.num_classes;
  const int64_t B = int64_t(cu.size()) - 1;
  LESEG_CHECK(B >= 1 && prototypes.defined() && prototypes.ndim() == 2 && prototypes.size(0) == B * C,
              "erda::QueryPrototypes::similarity: prototypes must be (B·C, d) = (", B * C, ", d)");
  LESEG_CHECK(h.defined() && h.ndim() == 2 && h.size(0) == cu.back() && cu.front() == 0,
              "erda::QueryPrototypes::similarity: h must have cu_pixels[B] = ", cu.back(), " rows");
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < B; ++b)
    parts.push_back(cos_logits(h.narrow(cu[size_t(b)], cu[size_t(b) + 1] - cu[size_t(b)]), prototypes.narrow(b * C, C)));
  return B == 1 ? parts[0] : concat(parts, 0);
}

ErdaTerm parse_term(const std::string& s) {
  if (s == "erda" || s == "er+da") return ErdaTerm::erda;
  if (s == "er") return ErdaTerm::er;
  if (s == "da") return ErdaTerm::da;
  LESEG_FAIL("config: key 'erda.term' = '", s, "' must be erda (ER+DA), er or da");
}

const char* term_name(ErdaTerm t) {
  switch (t) {
    case ErdaTerm::erda: return "erda";
    case ErdaTerm::er: return "er";
    case ErdaTerm::da: return "da";
  }
  return "erda";
}

void labelled_fit_stats(const Tensor& labels, const Tensor& logits, PendingStats& out) {
  NoGradGuard ng;
  const Device dev = logits.device();
  const Tensor y = labels.to(dev).to(DType::i64).reshape(Shape{labels.numel()});
  const Tensor labelled = ge(y, 0.0);
  const Tensor right = logical_and(labelled, eq(argmax(logits.detach(), 1), y));
  const Tensor n = sum(labelled.to(DType::f64));
  out.ratio("labelled_fit", sum(right.to(DType::f64)), n);
  out.ratio("labelled_fraction", n, double(y.numel()), /*zero_when_empty=*/true);
}

void pseudo_distribution_stats(const Tensor& pseudo_logits, const Tensor& rows, PendingStats& out) {
  NoGradGuard ng;
  if (rows.defined() && rows.numel() == 0) return;
  Tensor s = pseudo_logits.detach();
  if (rows.defined()) s = index_select(s, 0, rows.to(s.device()));
  // p in f32 (as the network's softmax), then the sums in f64: max p, and H(p) = −Σ p log p over p > 0.
  const Tensor p = softmax(s, 1).to(DType::f32).to(DType::f64);
  const Tensor pmax = sum(max(p, 1).values);
  const Tensor plogp = where(gt(p, 0.0), mul(p, log(p)), Tensor::zeros(Shape{}, DType::f64, p.device()));
  const double R = double(std::max<int64_t>(s.size(0), 1));
  out.ratio("p_max", pmax, R);
  out.ratio("p_entropy", neg(sum(plogp)), R);
}

void labelled_fit_stats(const Tensor& labels, const Tensor& logits, nlohmann::json& out) {
  PendingStats p;
  labelled_fit_stats(labels, logits, p);
  p.write(out);
}

void pseudo_distribution_stats(const Tensor& pseudo_logits, const Tensor& rows, nlohmann::json& out) {
  PendingStats p;
  pseudo_distribution_stats(pseudo_logits, rows, p);
  p.write(out);
}

void PseudoLabelAccuracy::add(const Tensor& pseudo_logits, const Tensor& gt) {
  NoGradGuard ng;
  LESEG_CHECK(pseudo_logits.defined() && pseudo_logits.ndim() == 2 && gt.defined() && gt.ndim() == 1 &&
                  gt.size(0) == pseudo_logits.size(0),
              "erda::PseudoLabelAccuracy: pseudo-label logits (R, C) and ground truth (R,) disagree: ",
              pseudo_logits.defined() ? pseudo_logits.shape().str() : std::string("undefined"), " vs ",
              gt.defined() ? gt.shape().str() : std::string("undefined"));
  const std::vector<int64_t> g = gt.to(Device::cpu()).to(DType::i64).to_vector<int64_t>();
  const std::vector<int64_t> pred = controls::argmax_rows(pseudo_logits.detach()).to_vector<int64_t>();
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i] >= 0) ++scored, correct += pred[i] == g[i];
}

void PseudoLabelAccuracy::write(nlohmann::json& out, const std::string& key) const {
  if (scored == 0) return;
  out[key] = double(correct) / double(scored);
  out[key + "_n"] = scored;
}

}  // namespace leseg::train::erda
