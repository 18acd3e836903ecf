// SPDX-License-Identifier: Apache-2.0
// The ablation controls (train/components/controls.h): data.label_source parsing, gt / shuffled replacement of
// targets, and the agreement statistics the regimes log.
#include <gtest/gtest.h>

#include <set>

#include "engine/error.h"
#include "train/components/controls.h"
#include "train/config.h"

namespace leseg::train {
namespace {

Tensor i64(const std::vector<int64_t>& v) { return Tensor::from_vector(v, Shape{int64_t(v.size())}); }

TEST(Controls, ParsesLabelSource) {
  EXPECT_EQ(controls::parse_label_source("gt"), controls::LabelSource::Gt);
  EXPECT_EQ(controls::parse_label_source("shuffled"), controls::LabelSource::Shuffled);
  EXPECT_EQ(controls::parse_label_source("pseudo"), controls::LabelSource::Pseudo);
  try {
    controls::parse_label_source("random");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.label_source"), std::string::npos) << e.what();
  }
  Config c = Config::from_string("data: {label_source: gt}\n");
  EXPECT_EQ(controls::label_source_from_config(c), controls::LabelSource::Gt);
}

TEST(Controls, GtReplacesTargetsAndDropsUnknown) {
  Generator g(1);
  const Tensor t = i64({3, -1, 2, 0}), gt = i64({1, 4, -1, 0});
  EXPECT_EQ(controls::apply(t, gt, controls::LabelSource::Gt, 5, g).to_vector<int64_t>(),
            (std::vector<int64_t>{1, -1, -1, 0}));
  EXPECT_EQ(controls::apply(t, gt, controls::LabelSource::Pseudo, 5, g).to_vector<int64_t>(),
            (std::vector<int64_t>{3, -1, 2, 0}));
}

TEST(Controls, ShuffledIsUniformOverClassesAndKeepsUnlabelled) {
  Generator g(2);
  std::vector<int64_t> t(4000, 1);
  t[7] = -1;
  std::vector<int64_t> r = controls::apply(i64(t), Tensor(), controls::LabelSource::Shuffled, 4, g).to_vector<int64_t>();
  EXPECT_EQ(r[7], -1);
  std::vector<int> count(4, 0);
  for (size_t i = 0; i < r.size(); ++i)
    if (i != 7) {
      ASSERT_GE(r[i], 0);
      ASSERT_LT(r[i], 4);
      ++count[size_t(r[i])];
    }
  for (int c : count) EXPECT_NEAR(c, 1000, 120);  // uniform: class 1 is not favoured
  // a fresh draw each call
  std::vector<int64_t> r2 = controls::apply(i64(t), Tensor(), controls::LabelSource::Shuffled, 4, g).to_vector<int64_t>();
  EXPECT_NE(r, r2);
}

TEST(Controls, AgreementAccuracyAndMiou) {
  // classes 0, 1: pred 0 0 1 1, gt 0 1 1 -1 (skipped) -> acc 2/3; IoU0 = 1/2, IoU1 = 1/2
  const controls::Agreement a = controls::agreement(i64({0, 0, 1, 1}), i64({0, 1, 1, -1}), 2);
  EXPECT_EQ(a.n, 3);
  EXPECT_NEAR(a.acc, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(a.miou, 0.5, 1e-12);
  nlohmann::json st;
  // logits argmax = 1, 0, 0; targets 1, 1, -1; gt 1, 0, 0 -> target acc 1/2 (row 3 has no target), net acc 2/2
  Tensor z = Tensor::from_vector(std::vector<float>{0, 1, 1, 0, 1, 0}, Shape{3, 2});
  controls::add_target_stats(st, i64({1, 1, -1}), i64({1, 0, 0}), z, 2);
  EXPECT_DOUBLE_EQ(st["target_acc"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(st["net_acc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(st["n_targets"].get<double>(), 2.0);
}

}  // namespace
}  // namespace leseg::train
