// SPDX-License-Identifier: Apache-2.0
// ERDA building blocks (METHODS §2.6, REFERENCE-CODE §4, `LiyaoTang/ERDA` models/head.py [code]):
//   * ProjectionMLP2: Linear(d, d) -> BatchNorm1d(eps 1e-6) -> ReLU / LeakyReLU -> Linear(d, d).
//     ERDA's TF BN "momentum 0.99" means running = 0.99·running + 0.01·batch; our BN (PyTorch convention)
//     is running = (1 − m)·running + m·batch, so the same behaviour is m = 1 − 0.99 = 0.01.
//   * PrototypeMemory: P (C, d) non-trainable buffer, EMA of per-class means c_k of the projected features of
//     labelled points in the batch: P ← μ·P + (1 − μ)·c (μ = 0.999).
//       global (ERDA's Gsum/Gavg, the default): every class is updated (absent classes have c = 0, so they decay
//       toward 0) and the pseudo-labels of this step use the PRE-update P;
//       non-global: only the classes present are updated and the pseudo-labels use the updated P.
//     Pseudo-label logits s_ik = cos(ĥ_i, P̂_k) (ĥ, P̂ L2-normalised with eps 1e-12, no temperature); p = softmax(s).
//     The EMA always sees detached features (no gradient into P).
//   * erda_loss over the selected (unlabelled) rows, weight w (0.1; 0.01 for ScanNet 20 points):
//       erda: mean_i −Σ_k p_ik log q_ik (= H(p) + KL(p‖q)), q = softmax(z);
//       er:   H(p) (the entropy regulariser of the pseudo-labels);   da: KL(p‖q) (the alignment term).
//     coadapt = true lets the gradient flow into p (hence into the projection head and the features);
//     coadapt = false stops it (p is a fixed target).
//   * QueryPrototypes (the 2D query-based variant, no public code [reading]): learnable class queries (C, d)
//     cross-attend to each image's pixel features (fused attention, cu_q = b·C, cu_k = pixel offsets);
//     the attended values through W_o are that image's prototypes (B·C, d).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "train/components/pending_stats.h"
#include <nlohmann/json.hpp>

namespace leseg::train::erda {

constexpr double kErdaBnMomentumTF = 0.99;                   // ERDA's (TF) BN decay
constexpr double kBnMomentum = 1.0 - kErdaBnMomentumTF;      // the same in our BatchNorm1d convention

class ProjectionMLP2 : public Module {
 public:
  ProjectionMLP2(int64_t dim, Generator& gen, bool leaky_relu = false, DType dtype = DType::f32);
  std::string type_name() const override { return "ProjectionMLP2"; }
  Tensor forward(const Tensor& x) override;  // (N, d) -> (N, d)
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<BatchNorm1d> bn;
  bool leaky_relu;
};

struct PrototypeOptions {
  int64_t num_classes = 13, dim = 96;
  double momentum = 0.999;
  bool global = true;
  bool xavier_init = false;  // ERDA "-I": config init (xavier); default zeros
  DType dtype = DType::f32;
};

class PrototypeMemory : public Module {
 public:
  PrototypeMemory(const PrototypeOptions& opts, Generator& gen);
  std::string type_name() const override { return "PrototypeMemory"; }
  // h (N, d), labels (N,) i64 (< 0 = unlabelled) -> per-class means (C, d) of the labelled rows (0 if absent)
  // and the class counts (C,) i64. No gradient.
  std::pair<Tensor, Tensor> class_means(const Tensor& h, const Tensor& labels) const;
  // The EMA update (in place, outside autograd).
  void update(const Tensor& h, const Tensor& labels);
  // cos(ĥ, P̂) (N, C), differentiable in h; `prototypes` defaults to the current P.
  Tensor similarity(const Tensor& h, const Tensor& prototypes = Tensor()) const;
  // One training step: pseudo-label logits with the mode's ordering (pre-update P for global, updated P
  // otherwise) and the EMA update. Returns s (N, C); p = softmax(s).
  Tensor step(const Tensor& h, const Tensor& labels);
  PrototypeOptions opts;
  Tensor prototypes;  // (C, d) buffer
};

enum class ErdaTerm { erda, er, da };
ErdaTerm parse_term(const std::string& s);  // config key erda.term: erda (or er+da) | er | da; error otherwise
const char* term_name(ErdaTerm t);           // the loss-term name the regimes log: "erda" | "er" | "da"
struct ErdaLossOptions {
  double weight = 0.1;
  ErdaTerm term = ErdaTerm::erda;
  bool coadapt = true;  // gradient into the pseudo-labels
};
// logits z (N, C), pseudo_logits s (N, C) (p = softmax(s)), rows (U,) i64 selected rows (undefined = all).
// Returns w · term over the rows (0 with no gradient when U = 0).
Tensor erda_loss(const Tensor& logits, const Tensor& pseudo_logits, const Tensor& rows, const ErdaLossOptions& opts);
// Row indices (U,) i64 of labels < 0 (the unlabelled points), on the labels' device.
Tensor unlabelled_rows(const Tensor& labels);

struct QueryPrototypeOptions {
  int64_t num_classes = 20, feat_dim = 256, proto_dim = 256, attn_dim = 64, heads = 4;
  DType dtype = DType::f32;
};
class QueryPrototypes : public Module {
 public:
  QueryPrototypes(const QueryPrototypeOptions& opts, Generator& gen);
  std::string type_name() const override { return "QueryPrototypes"; }
  // pixels (Np, feat_dim) of B images packed by the host offsets cu_pixels (B + 1) -> prototypes (B·C, proto_dim).
  // The offsets are host values (the regime knows its image sizes): nothing is read from the device, and the
  // attention's offset tensors are kept per set of sizes, so its schedule is built once per shape.
  Tensor forward(const Tensor& pixels, const std::vector<int64_t>& cu_pixels);
  // h (Np, proto_dim), prototypes (B·C, proto_dim) -> cos(ĥ_i, P̂_{b(i), k}) (Np, C).
  Tensor similarity(const Tensor& h, const Tensor& prototypes, const std::vector<int64_t>& cu_pixels) const;
  QueryPrototypeOptions opts;
  Tensor queries;  // (C, proto_dim) parameter
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;

 private:
  struct Offsets {
    std::vector<int64_t> cu;
    Device dev = Device::cpu();
    Tensor rep, cu_q, cu_k;  // query row of each (image, class); the attention's offsets (B + 1) each
  };
  const Offsets& offsets(const std::vector<int64_t>& cu_pixels, Device dev);
  std::vector<Offsets> offsets_;  // the last few shapes seen (at most 8)
};

// The mechanism statistics both ERDA regimes (3D and 2D) log with every training record (docs/evidence.md):
//   labelled_fit_stats: over rows whose label is >= 0, the share the logits' argmax gets right ("labelled_fit":
//     it approaches 1 as the labelled CE overfits) and the share of rows that are labelled ("labelled_fraction");
//   pseudo_distribution_stats: mean max p and mean entropy H(p) of softmax(pseudo_logits) over `rows` (all rows
//     when undefined; nothing is written when `rows` is empty) -> "p_max", "p_entropy".
// Statistics only, no gradient. The PendingStats forms queue the reductions on the logits' device and read nothing
// (the regimes read them after the step, in step_stats()); the JSON forms read at once.
void labelled_fit_stats(const Tensor& labels, const Tensor& logits, PendingStats& out);
void pseudo_distribution_stats(const Tensor& pseudo_logits, const Tensor& rows, PendingStats& out);
void labelled_fit_stats(const Tensor& labels, const Tensor& logits, nlohmann::json& out);
void pseudo_distribution_stats(const Tensor& pseudo_logits, const Tensor& rows, nlohmann::json& out);

// Accuracy of the pseudo-labels argmax p against ground truth the network is not trained on, accumulated over
// batches: add() scores every row whose `gt` is >= 0 (the caller passes GT only on points without a training label;
// the 3D regime scores the held-out evaluation rooms, where every point is unlabelled); write() sets `key` (default
// "p_acc") to correct / scored and `key`_n to the count, or nothing when no row was scored. Host-side, no gradient.
struct PseudoLabelAccuracy {
  int64_t correct = 0, scored = 0;
  void add(const Tensor& pseudo_logits, const Tensor& gt);  // (R, C), (R,) integer
  void write(nlohmann::json& out, const std::string& key = "p_acc") const;
  void reset() { correct = scored = 0; }
};

}  // namespace leseg::train::erda
