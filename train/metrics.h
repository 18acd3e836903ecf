// SPDX-License-Identifier: Apache-2.0
// Segmentation metrics: one confusion matrix accumulated over a whole validation set at full point
// resolution (ignore label excluded from ground truth), per-class IoU = TP / (TP + FP + FN), mIoU over the
// classes whose union is non-empty (the count is reported; CLIP2Scene's "IoU = 1 on empty union" quirk is
// not used).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace leseg::train {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes, int ignore_index = -1);
  // pred, gt: n labels each. gt == ignore is skipped; gt outside [0, C) is an error naming the value;
  // a prediction outside [0, C) counts as a miss (false negative for gt) and is reported in invalid_predictions().
  void update(const int32_t* pred, const int32_t* gt, int64_t n);
  void merge(const ConfusionMatrix& o);
  // The counts as C·C + 1 integers (row-major matrix, then invalid_predictions) and back (data-parallel
  // evaluation sums them over the ranks).
  std::vector<int64_t> raw() const;
  void set_raw(const std::vector<int64_t>& r);
  void reset();

  int num_classes() const { return c_; }
  int64_t at(int gt, int pred) const { return m_[size_t(gt) * c_ + pred]; }
  int64_t total() const;
  int64_t invalid_predictions() const { return invalid_; }
  std::vector<double> iou() const;        // NaN for classes with empty union
  double miou() const;                    // mean over non-NaN
  int num_valid_classes() const;
  double accuracy() const;                // overall point accuracy
  std::string table(const std::vector<std::string>& class_names) const;
  nlohmann::json to_json(const std::vector<std::string>& class_names) const;
  // Flat keys for a Trainer eval record (a second network's metrics, e.g. suffix "_2d"): miou<s>, accuracy<s>,
  // valid_classes<s>, iou<s> (array by class id, null for classes with empty union).
  nlohmann::json record(const std::string& suffix) const;

 private:
  int c_;
  int ignore_;
  std::vector<int64_t> m_;  // (C, C) row = ground truth, column = prediction
  int64_t invalid_ = 0;
};

}  // namespace leseg::train
