// SPDX-License-Identifier: Apache-2.0
// Issue 19: clip2scene and hicl learn from their CLIP pseudo-labels — each beats its negative control (the same
// run with the pair labels shuffled to random classes, data.label_source=shuffled) on a tiny fixed budget, same
// seed. The positive control (GT labels for the same points) is reported alongside, not asserted.
#include <cstdio>

#include "slow_fixture.h"

namespace leseg::train {
namespace {

const std::vector<std::string> kTiny = {"model.planes=[16, 16, 16, 16, 16, 16, 16, 16]", "model.init_dim=16",
                                        "data.voxel_size=0.2", "data.val_batch_size=3", "seed=1"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(RegimesSlow, Clip2SceneBeatsShuffledLabels) {
  const auto budget = with(kTiny, {"train.epochs=10", "self_training.start=4"});
  const double pseudo = slow::train_config("configs/clip2scene_synthetic.yaml", budget).value("miou", 0.0);
  const double shuffled =
      slow::train_config("configs/clip2scene_synthetic.yaml", with(budget, {"data.label_source=shuffled"})).value("miou", 0.0);
  const double gt = slow::train_config("configs/clip2scene_synthetic.yaml", with(budget, {"data.label_source=gt"})).value("miou", 0.0);
  std::printf("clip2scene val mIoU: pseudo %.1f, shuffled %.1f, gt %.1f\n", 100 * pseudo, 100 * shuffled, 100 * gt);
  EXPECT_GT(pseudo, shuffled + 0.02);
}

TEST(RegimesSlow, HiclBeatsShuffledLabels) {
  const auto budget = with(kTiny, {"train.epochs=8", "hicl.intra_from=2", "hicl.kl_from=4", "self_training.start=3",
                                   "hicl.samples=64", "transformer.heads=4"});
  const double pseudo = slow::train_config("configs/hicl_synthetic.yaml", budget).value("miou", 0.0);
  const double shuffled =
      slow::train_config("configs/hicl_synthetic.yaml", with(budget, {"data.label_source=shuffled"})).value("miou", 0.0);
  std::printf("hicl val mIoU: pseudo %.1f, shuffled %.1f\n", 100 * pseudo, 100 * shuffled);
  EXPECT_GT(pseudo, shuffled + 0.02);
}

}  // namespace
}  // namespace leseg::train
