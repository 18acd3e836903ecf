// SPDX-License-Identifier: Apache-2.0
// `leseg data inspect` reports the stand-ins' four noise figures (METHODS §6) for a generated set.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/synthetic/dataset.h"
#include "train/cli.h"

TEST(InspectCalibration, ReportsTheFourFigures) {
  auto root = std::filesystem::temp_directory_path() / "leseg_inspect_calibration";
  std::filesystem::remove_all(root);
  leseg::io::synth::SyntheticDatasetOptions o;
  o.train_scenes = 0;
  o.val_scenes = 1;
  o.seed = 11;
  leseg::io::synth::write_synthetic_dataset(root.string(), o);
  std::string text = leseg::train::calibration_text(root.string(), 1);
  EXPECT_NE(text.find("on 1 scenes"), std::string::npos) << text;
  EXPECT_NE(text.find("mIoU 2D"), std::string::npos) << text;
  EXPECT_NE(text.find("after SAM-mask voting"), std::string::npos) << text;
  std::filesystem::remove_all(root);
}

TEST(InspectCalibration, SaysSoWithoutViews) {
  auto root = std::filesystem::temp_directory_path() / "leseg_inspect_calibration_noviews";
  std::filesystem::remove_all(root);
  leseg::io::synth::SyntheticDatasetOptions o;
  o.train_scenes = 0;
  o.val_scenes = 1;
  o.indoor.num_views = 0;
  leseg::io::synth::write_synthetic_dataset(root.string(), o);
  EXPECT_NE(leseg::train::calibration_text(root.string(), 1).find("no scene with views"), std::string::npos);
  std::filesystem::remove_all(root);
}
