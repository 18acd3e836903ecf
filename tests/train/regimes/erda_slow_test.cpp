// SPDX-License-Identifier: Apache-2.0
// Issue 19: erda (3D) and erda2d learn from their weak labels — each, with its ER+DA term on, beats its negative
// control (the same run with the weak labels shuffled to random classes, data.label_source=shuffled) on a tiny fixed
// budget, same seed.
#include <cstdio>

#include "slow_fixture.h"

namespace leseg::train {
namespace {

TEST(RegimesSlow, ErdaBeatsShuffledLabels) {
  const std::vector<std::string> budget = {"model.planes=[16, 16, 16, 16, 16, 16, 16, 16]", "model.init_dim=16",
                                           "data.voxel_size=0.2", "data.weak_labels=1%", "train.epochs=10", "seed=1"};
  auto shuffled_budget = budget;
  shuffled_budget.push_back("data.label_source=shuffled");
  const double weak = slow::train_config("configs/erda_synthetic.yaml", budget).value("miou", 0.0);
  const double shuffled = slow::train_config("configs/erda_synthetic.yaml", shuffled_budget).value("miou", 0.0);
  std::printf("erda val mIoU: weak labels %.1f, shuffled %.1f\n", 100 * weak, 100 * shuffled);
  EXPECT_GT(weak, shuffled + 0.02);
}

TEST(RegimesSlow, Erda2dBeatsShuffledLabels) {
  const std::vector<std::string> budget = {"model2d.aspp_channels=32", "data.crop_height=64", "data.crop_width=96",
                                           "data.crop_min_pairs=32", "data.weak_pixel_labels=5%", "train.epochs=6",
                                           "optim.lr=0.1", "seed=1"};
  auto shuffled_budget = budget;
  shuffled_budget.push_back("data.label_source=shuffled");
  const double weak = slow::train_config("configs/erda2d_synthetic.yaml", budget).value("miou_2d", 0.0);
  const double shuffled = slow::train_config("configs/erda2d_synthetic.yaml", shuffled_budget).value("miou_2d", 0.0);
  std::printf("erda2d val 2D mIoU: weak labels %.1f, shuffled %.1f\n", 100 * weak, 100 * shuffled);
  EXPECT_GT(weak, shuffled + 0.02);
}

}  // namespace
}  // namespace leseg::train
