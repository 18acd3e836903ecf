// SPDX-License-Identifier: Apache-2.0
#include "train/metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "engine/error.h"

namespace leseg::train {

ConfusionMatrix::ConfusionMatrix(int num_classes, int ignore_index)
    : c_(num_classes), ignore_(ignore_index), m_(size_t(num_classes) * num_classes, 0) {
  LESEG_CHECK(num_classes > 0, "ConfusionMatrix: num_classes must be positive, got ", num_classes);
}

void ConfusionMatrix::update(const int32_t* pred, const int32_t* gt, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    int32_t g = gt[i];
    if (g == ignore_) continue;
    LESEG_CHECK(g >= 0 && g < c_, "ConfusionMatrix: ground-truth label ", g, " at element ", i, " is outside [0, ", c_,
                ") and is not the ignore label ", ignore_);
    int32_t p = pred[i];
    if (p < 0 || p >= c_) {
      ++invalid_;
      continue;  // counts against recall only: the row total below includes it via total_gt
    }
    m_[size_t(g) * c_ + p]++;
  }
}

void ConfusionMatrix::merge(const ConfusionMatrix& o) {
  LESEG_CHECK(o.c_ == c_, "ConfusionMatrix::merge: ", o.c_, " classes vs ", c_);
  for (size_t i = 0; i < m_.size(); ++i) m_[i] += o.m_[i];
  invalid_ += o.invalid_;
}

std::vector<int64_t> ConfusionMatrix::raw() const {
  std::vector<int64_t> r = m_;
  r.push_back(invalid_);
  return r;
}

void ConfusionMatrix::set_raw(const std::vector<int64_t>& r) {
  LESEG_CHECK(r.size() == m_.size() + 1, "ConfusionMatrix::set_raw: ", r.size(), " values for ", c_, " classes");
  std::copy(r.begin(), r.end() - 1, m_.begin());
  invalid_ = r.back();
}

void ConfusionMatrix::reset() {
  std::fill(m_.begin(), m_.end(), 0);
  invalid_ = 0;
}

int64_t ConfusionMatrix::total() const {
  int64_t t = 0;
  for (auto v : m_) t += v;
  return t;
}

std::vector<double> ConfusionMatrix::iou() const {
  std::vector<double> out(c_);
  for (int k = 0; k < c_; ++k) {
    int64_t tp = at(k, k), row = 0, col = 0;
    for (int j = 0; j < c_; ++j) row += at(k, j), col += at(j, k);
    int64_t uni = row + col - tp;
    out[k] = uni > 0 ? double(tp) / double(uni) : std::numeric_limits<double>::quiet_NaN();
  }
  return out;
}

double ConfusionMatrix::miou() const {
  double s = 0;
  int n = 0;
  for (double v : iou())
    if (!std::isnan(v)) s += v, ++n;
  return n ? s / n : 0.0;
}

int ConfusionMatrix::num_valid_classes() const {
  int n = 0;
  for (double v : iou()) n += !std::isnan(v);
  return n;
}

double ConfusionMatrix::accuracy() const {
  int64_t tp = 0;
  for (int k = 0; k < c_; ++k) tp += at(k, k);
  int64_t t = total() + invalid_;
  return t ? double(tp) / double(t) : 0.0;
}

std::string ConfusionMatrix::table(const std::vector<std::string>& names) const {
  auto ious = iou();
  std::string s = "| class | IoU |\n|---|---|\n";
  char buf[128];
  for (int k = 0; k < c_; ++k) {
    std::string name = k < int(names.size()) ? names[k] : "class " + std::to_string(k);
    if (std::isnan(ious[k])) snprintf(buf, sizeof buf, "| %s | n/a (absent) |\n", name.c_str());
    else snprintf(buf, sizeof buf, "| %s | %.1f |\n", name.c_str(), 100.0 * ious[k]);
    s += buf;
  }
  snprintf(buf, sizeof buf, "| **mIoU** (%d classes) | **%.1f** |\n", num_valid_classes(), 100.0 * miou());
  return s + buf;
}

nlohmann::json ConfusionMatrix::to_json(const std::vector<std::string>& names) const {
  nlohmann::json j;
  auto ious = iou();
  j["miou"] = miou();
  j["accuracy"] = accuracy();
  j["num_valid_classes"] = num_valid_classes();
  nlohmann::json per = nlohmann::json::object();
  for (int k = 0; k < c_; ++k) {
    std::string name = k < int(names.size()) ? names[k] : std::to_string(k);
    per[name] = std::isnan(ious[k]) ? nlohmann::json(nullptr) : nlohmann::json(ious[k]);
  }
  j["iou"] = per;
  return j;
}

nlohmann::json ConfusionMatrix::record(const std::string& suffix) const {
  nlohmann::json j = nlohmann::json::object();
  j["miou" + suffix] = miou();
  j["accuracy" + suffix] = accuracy();
  j["valid_classes" + suffix] = num_valid_classes();
  nlohmann::json arr = nlohmann::json::array();
  for (double x : iou()) arr.push_back(std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x));
  j["iou" + suffix] = arr;
  return j;
}

}  // namespace leseg::train
