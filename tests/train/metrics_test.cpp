// SPDX-License-Identifier: Apache-2.0
// Evaluation on hand-made confusion matrices.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/error.h"
#include "train/metrics.h"

using leseg::train::ConfusionMatrix;

TEST(Metrics, HandMadeConfusion) {
  // gt:   0 0 0 1 1 2 -1
  // pred: 0 0 1 1 0 2  1
  std::vector<int32_t> gt = {0, 0, 0, 1, 1, 2, -1}, pred = {0, 0, 1, 1, 0, 2, 1};
  ConfusionMatrix cm(4);
  cm.update(pred.data(), gt.data(), int64_t(gt.size()));
  EXPECT_EQ(cm.total(), 6);
  EXPECT_EQ(cm.at(0, 0), 2);
  EXPECT_EQ(cm.at(0, 1), 1);
  EXPECT_EQ(cm.at(1, 0), 1);
  auto iou = cm.iou();
  EXPECT_DOUBLE_EQ(iou[0], 2.0 / 4.0);  // tp 2, fn 1, fp 1
  EXPECT_DOUBLE_EQ(iou[1], 1.0 / 3.0);  // tp 1, fn 1, fp 1
  EXPECT_DOUBLE_EQ(iou[2], 1.0);
  EXPECT_TRUE(std::isnan(iou[3]));      // absent class: excluded, not counted as 1
  EXPECT_EQ(cm.num_valid_classes(), 3);
  EXPECT_DOUBLE_EQ(cm.miou(), (0.5 + 1.0 / 3.0 + 1.0) / 3.0);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 4.0 / 6.0);
  EXPECT_NE(cm.table({"a", "b", "c", "d"}).find("n/a"), std::string::npos);
  // a second network's flat record keys (what CNS / erda2d put in the Trainer's eval record)
  nlohmann::json r = cm.record("_2d");
  EXPECT_DOUBLE_EQ(r["miou_2d"].get<double>(), cm.miou());
  EXPECT_DOUBLE_EQ(r["accuracy_2d"].get<double>(), 4.0 / 6.0);
  EXPECT_EQ(r["valid_classes_2d"].get<int>(), 3);
  ASSERT_EQ(r["iou_2d"].size(), 4u);
  EXPECT_DOUBLE_EQ(r["iou_2d"][1].get<double>(), 1.0 / 3.0);
  EXPECT_TRUE(r["iou_2d"][3].is_null());
}

TEST(Metrics, MergeEqualsOnePass) {
  std::vector<int32_t> gt = {0, 1, 2, 2, 1, 0}, pred = {0, 2, 2, 1, 1, 0};
  ConfusionMatrix a(3), b(3), all(3);
  a.update(pred.data(), gt.data(), 3);
  b.update(pred.data() + 3, gt.data() + 3, 3);
  all.update(pred.data(), gt.data(), 6);
  a.merge(b);
  EXPECT_DOUBLE_EQ(a.miou(), all.miou());
}

TEST(Metrics, BadLabelIsNamed) {
  std::vector<int32_t> gt = {0, 7}, pred = {0, 0};
  ConfusionMatrix cm(3);
  try {
    cm.update(pred.data(), gt.data(), 2);
    FAIL();
  } catch (const leseg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 7"), std::string::npos) << e.what();
  }
}
