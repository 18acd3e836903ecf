// SPDX-License-Identifier: Apache-2.0
#include "train/components/controls.h"

#include <algorithm>
#include <vector>

#include "engine/error.h"
#include "engine/host_sync.h"
#include "engine/ops/reduce.h"
#include "train/config.h"

namespace leseg::train::controls {

LabelSource parse_label_source(const std::string& s) {
  if (s == "pseudo") return LabelSource::Pseudo;
  if (s == "gt") return LabelSource::Gt;
  if (s == "shuffled") return LabelSource::Shuffled;
  LESEG_FAIL("config: key 'data.label_source' must be pseudo | gt | shuffled, got '", s, "'");
}

LabelSource label_source_from_config(const Config& cfg) {
  return parse_label_source(cfg.get<std::string>("data.label_source", "pseudo"));
}

const char* label_source_name(LabelSource s) {
  switch (s) {
    case LabelSource::Gt: return "gt";
    case LabelSource::Shuffled: return "shuffled";
    default: return "pseudo";
  }
}

static std::vector<int64_t> as_i64(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::i64).to_vector<int64_t>();
}

std::vector<int64_t> apply(std::vector<int64_t> t, const std::vector<int64_t>* gt, LabelSource s, int64_t num_classes,
                           Generator& gen) {
  if (s == LabelSource::Pseudo) return t;
  LESEG_CHECK(num_classes >= 1, "controls: num_classes must be >= 1");
  if (s == LabelSource::Gt) {
    LESEG_CHECK(gt && gt->size() == t.size(), "controls: data.label_source=gt needs one GT label per target (",
                t.size(), " targets, ", gt ? std::to_string(gt->size()) + " GT labels" : std::string("no GT"), ")");
    const std::vector<int64_t>& g = *gt;
    for (size_t i = 0; i < t.size(); ++i) t[i] = t[i] >= 0 && g[i] >= 0 && g[i] < num_classes ? g[i] : -1;
  } else {
    std::vector<double> r;
    {
      HostMemoryRead host;  // a draw from the host generator into host memory: not a device read
      r = uniform(Shape{int64_t(t.size())}, 0.0, 1.0, gen, DType::f64).to_vector<double>();
    }
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i] >= 0) t[i] = std::min<int64_t>(num_classes - 1, int64_t(r[i] * double(num_classes)));
  }
  return t;
}

Tensor apply(const Tensor& targets, const Tensor& gt, LabelSource s, int64_t num_classes, Generator& gen) {
  if (s == LabelSource::Pseudo) return targets;
  std::vector<int64_t> g;
  if (s == LabelSource::Gt) {
    LESEG_CHECK(gt.defined() && gt.numel() == targets.numel(), "controls: data.label_source=gt needs one GT label "
                "per target (", targets.numel(), " targets, GT ", gt.defined() ? gt.shape().str() : std::string("undefined"), ")");
    g = as_i64(gt);
  }
  const std::vector<int64_t> t = apply(as_i64(targets), s == LabelSource::Gt ? &g : nullptr, s, num_classes, gen);
  return Tensor::from_vector(t, Shape{int64_t(t.size())});
}

Agreement agreement(const Tensor& pred, const Tensor& gt, int64_t C) {
  std::vector<int64_t> p = as_i64(pred), g = as_i64(gt);
  LESEG_CHECK(p.size() == g.size(), "controls: prediction and GT differ in length (", p.size(), " vs ", g.size(), ")");
  std::vector<int64_t> tp(size_t(C), 0), fp(size_t(C), 0), fn(size_t(C), 0);
  Agreement a;
  int64_t ok = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (g[i] < 0 || g[i] >= C || p[i] < 0 || p[i] >= C) continue;
    ++a.n;
    if (p[i] == g[i]) {
      ++ok;
      ++tp[size_t(g[i])];
    } else {
      ++fp[size_t(p[i])];
      ++fn[size_t(g[i])];
    }
  }
  if (a.n == 0) return a;
  a.acc = double(ok) / double(a.n);
  double s = 0.0;
  int k = 0;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t u = tp[size_t(c)] + fp[size_t(c)] + fn[size_t(c)];
    if (u == 0) continue;
    s += double(tp[size_t(c)]) / double(u);
    ++k;
  }
  a.miou = k ? s / k : 0.0;
  return a;
}

Tensor argmax_rows(const Tensor& logits) { return argmax(logits.detach(), 1).to(Device::cpu()).to(DType::i64); }

void add_target_stats(nlohmann::json& stats, const Tensor& targets, const Tensor& gt, const Tensor& net_logits,
                      int64_t C, const std::string& prefix) {
  add_target_stats(stats, targets, gt, as_i64(argmax_rows(net_logits)), C, prefix);
}

void add_target_stats(nlohmann::json& stats, const Tensor& targets, const Tensor& gt,
                      const std::vector<int64_t>& n, int64_t C, const std::string& prefix) {
  std::vector<int64_t> t = as_i64(targets), g = as_i64(gt);
  LESEG_CHECK(t.size() == g.size() && t.size() == n.size(), "controls: targets (", t.size(), "), GT (", g.size(),
              ") and network predictions (", n.size(), ") rows differ");
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] < 0) g[i] = -1;  // rows without a target are not scored
  const Tensor gg = Tensor::from_vector(g, Shape{int64_t(g.size())});
  const Agreement at = agreement(Tensor::from_vector(t, Shape{int64_t(t.size())}), gg, C);
  const Agreement an = agreement(Tensor::from_vector(n, Shape{int64_t(n.size())}), gg, C);
  if (at.n == 0) return;
  stats[prefix + "target_acc"] = at.acc;
  stats[prefix + "target_miou"] = at.miou;
  stats[prefix + "net_acc"] = an.acc;
  stats[prefix + "net_miou"] = an.miou;
  stats[prefix + "n_targets"] = double(at.n);
}

}  // namespace leseg::train::controls
