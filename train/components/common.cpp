// SPDX-License-Identifier: Apache-2.0
#include "train/components/common.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/host_sync.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/segment.h"
#include "engine/ops/shape_ops.h"

namespace leseg::train {
namespace {

bool is_int(DType t) { return t == DType::i32 || t == DType::i64; }

std::vector<int64_t> to_i64(const Tensor& t) { return t.to(Device::cpu()).to_vector<int64_t>(); }

void check_pairs(const Tensor& pairs, const char* op) {
  LESEG_CHECK(pairs.defined(), op, ": pairs are undefined");
  LESEG_CHECK(pairs.ndim() == 2 && pairs.size(1) == 2, op, ": pairs must be (P, 2) (point, pixel), got ",
              pairs.shape().str());
  LESEG_CHECK(is_int(pairs.dtype()), op, ": pairs must be i32/i64, got ", dtype_name(pairs.dtype()));
}

}  // namespace

Tensor gather_at_pairs(const Tensor& values, const Tensor& pairs) {
  check_pairs(pairs, "gather_at_pairs");
  LESEG_CHECK(values.defined() && values.ndim() >= 1 && values.ndim() <= 2, "gather_at_pairs: values must be (H, W), (H·W,) or (H·W, K), got ",
              values.defined() ? values.shape().str() : std::string("undefined"));
  const bool as_rows = is_int(values.dtype()) ? false : values.ndim() == 2;
  // Integer maps (H, W) are flattened; float (H·W, K) rows stay rows, float (H, W) is flattened too.
  Tensor flat = as_rows ? values : values.reshape(Shape{values.numel()});
  const int64_t HW = flat.size(0), P = pairs.size(0);
  std::vector<int64_t> pr = to_i64(pairs);
  for (int64_t i = 0; i < P; ++i)
    LESEG_CHECK(pr[2 * i + 1] >= 0 && pr[2 * i + 1] < HW, "gather_at_pairs: pair ", i, " has pixel index ",
                pr[2 * i + 1], " outside [0, ", HW, ")");
  std::vector<int64_t> pix(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) pix[size_t(i)] = pr[2 * i + 1];
  if (is_int(values.dtype())) {
    std::vector<int64_t> v = to_i64(flat), out(static_cast<size_t>(P));
    for (int64_t i = 0; i < P; ++i) out[size_t(i)] = v[size_t(pix[size_t(i)])];
    return Tensor::from_vector(out, Shape{P}, values.device());
  }
  return index_select(flat, 0, Tensor::from_vector(pix, Shape{P}, values.device()));
}

Tensor project_pixel_labels(int64_t num_points, const std::vector<Tensor>& pairs,
                            const std::vector<Tensor>& pixel_labels, int64_t num_classes, ViewReduce reduce) {
  LESEG_CHECK(num_points >= 0 && num_classes > 0, "project_pixel_labels: num_points (", num_points,
              ") must be >= 0 and num_classes (", num_classes, ") > 0");
  LESEG_CHECK(pairs.size() == pixel_labels.size(), "project_pixel_labels: ", pairs.size(), " pair sets for ",
              pixel_labels.size(), " label maps");
  Device dev = pairs.empty() ? Device::cpu() : pairs[0].device();
  std::vector<int64_t> pts, labs;
  for (size_t v = 0; v < pairs.size(); ++v) {
    LESEG_CHECK(pixel_labels[v].defined() && is_int(pixel_labels[v].dtype()), "project_pixel_labels: view ", v,
                ": pixel labels must be i32/i64");
    std::vector<int64_t> lab = to_i64(gather_at_pairs(pixel_labels[v], pairs[v]));
    std::vector<int64_t> pr = to_i64(pairs[v]);
    for (size_t i = 0; i < lab.size(); ++i) {
      const int64_t p = pr[2 * i], l = lab[i];
      LESEG_CHECK(p >= 0 && p < num_points, "project_pixel_labels: view ", v, " pair ", i, " has point index ", p,
                  " outside [0, ", num_points, ")");
      LESEG_CHECK(l < num_classes, "project_pixel_labels: view ", v, " pair ", i, " has label ", l, " >= ",
                  num_classes, " classes");
      if (l < 0) continue;
      pts.push_back(p);
      labs.push_back(l);
    }
  }
  if (reduce == ViewReduce::first) {
    std::vector<int64_t> out(size_t(num_points), -1);
    for (size_t i = 0; i < pts.size(); ++i)
      if (out[size_t(pts[i])] < 0) out[size_t(pts[i])] = labs[i];
    return Tensor::from_vector(out, Shape{num_points}, dev);
  }
  const int64_t V = int64_t(pts.size());
  if (V == 0) return Tensor::full(Shape{num_points}, -1.0, DType::i64, dev);
  VoteResult r = vote_mode(Tensor::from_vector(pts, Shape{V}, dev), Tensor::from_vector(labs, Shape{V}, dev),
                           num_points, num_classes, -1);
  return r.group_mode;
}

CompactGroups compact_nonnegative(const Tensor& ids) {
  LESEG_CHECK(ids.defined() && is_int(ids.dtype()), "compact_nonnegative: ids must be i32/i64");
  std::vector<int64_t> v = to_i64(ids), sorted;
  sorted.reserve(v.size());
  for (int64_t x : v)
    if (x >= 0) sorted.push_back(x);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<int64_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = v[i] < 0 ? -1 : int64_t(std::lower_bound(sorted.begin(), sorted.end(), v[i]) - sorted.begin());
  return {Tensor::from_vector(out, ids.shape()), int64_t(sorted.size())};
}

bool SelfTrainingSwitch::use_prediction(int epoch, Generator& gen) const {
  LESEG_CHECK(probability >= 0.0 && probability <= 1.0, "SelfTrainingSwitch: probability ", probability,
              " outside [0, 1]");
  if (!enabled || epoch < start_epoch) return false;
  HostMemoryRead host;  // a draw from the host generator into host memory: not a device read
  const double u = rand(Shape{1}, gen, DType::f64).item<double>();
  return u < probability;
}

Tensor SelfTrainingSwitch::target(const Tensor& labels, const Tensor& logits, bool use_pred) {
  if (!use_pred) return labels;
  LESEG_CHECK(logits.defined() && logits.ndim() == 2, "SelfTrainingSwitch::target: logits must be (N, C)");
  NoGradGuard ng;
  return argmax(logits.detach(), 1);
}

double ema_momentum_from_config(const Config& cfg, const std::string& key, const std::string& fallback,
                                int64_t total_steps) {
  const std::string text = cfg.get<std::string>(key, fallback);
  double m = 0.0;
  if (text == "auto") {
    m = std::clamp(1.0 - 10.0 / double(std::max<int64_t>(total_steps, 1)), 0.0, 0.999);
  } else {
    try {
      size_t used = 0;
      m = std::stod(text, &used);
      LESEG_CHECK(used == text.size(), "trailing characters");
    } catch (const std::exception&) {
      LESEG_FAIL("config: key '", key, "' = '", text, "' must be a number in [0, 1] or auto");
    }
  }
  LESEG_CHECK(m >= 0.0 && m <= 1.0, "config: key '", key, "' = ", m, " must lie in [0, 1]");
  return m;
}

std::vector<int64_t> host_i64_values(const Tensor& t) {
  if (!t.defined()) return {};
  const Tensor h = t.to(Device::cpu());  // a CUDA tensor: a real copy, counted
  HostMemoryRead host;
  return h.to(DType::i64).to_vector<int64_t>();
}

Tensor spvcnn_forward(models::SPVCNN& net, const Batch& b, Device dev) {
  const auto on = [&](const Tensor& t) { return t.device() == dev ? t : t.to(dev); };
  const bool same = b.input.defined() && b.inverse.defined() && b.voxel_counts.defined() && b.voxel_size > 0.0 &&
                    b.voxel_size == net.config().voxel_size && b.input.stride() == 1 &&
                    b.input.feats().dtype() == net.config().dtype;
  if (!same) return net.forward(on(b.points), on(b.point_batch), on(b.point_feats));
  Voxelized vox;
  vox.voxels = b.input.device() == dev ? b.input
                                       : SparseTensor(b.input.coords().to(dev), b.input.feats().to(dev), 1,
                                                      b.input.num_batches());
  vox.inverse = on(b.inverse);
  vox.counts = on(b.voxel_counts);
  return net.forward(vox, on(b.points), on(b.point_batch));
}

}  // namespace leseg::train
