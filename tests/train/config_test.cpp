// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "engine/error.h"
#include "train/config.h"

using leseg::train::Config;

TEST(Config, OverridesAndTypedReads) {
  Config c = Config::from_string("model: {name: MinkUNet14A, in_channels: 3}\noptim: {lr: 0.1, betas: [0.9, 0.99]}\n");
  c.apply_overrides({"optim.lr=0.02", "train.epochs=5", "model.name=MinkUNet34C"});
  EXPECT_DOUBLE_EQ(c.get<double>("optim.lr"), 0.02);
  EXPECT_EQ(c.get<int>("train.epochs"), 5);
  EXPECT_EQ(c.get<std::string>("model.name"), "MinkUNet34C");
  EXPECT_EQ(c.get<int>("model.in_channels"), 3);
  EXPECT_EQ(c.get<std::vector<double>>("optim.betas").size(), 2u);
  EXPECT_EQ(c.get<int>("train.missing", 7), 7);
  EXPECT_NO_THROW(c.check_unused());
}

TEST(Config, UnknownKeysAreNamedWithAHint) {
  Config c = Config::from_string("optim: {lr: 0.1}\n");
  c.apply_override("optim.lrr=0.2");
  c.get<double>("optim.lr");
  try {
    c.check_unused();
    FAIL();
  } catch (const leseg::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'optim.lrr'"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'optim.lr'"), std::string::npos) << m;
  }
}

TEST(Config, ErrorsNameKeyAndFile) {
  Config c = Config::from_string("a: {b: hello}\n", "cfg.yaml");
  EXPECT_THROW(c.get<int>("a.b"), leseg::Error);
  EXPECT_THROW(c.get<int>("a.c"), leseg::Error);
  EXPECT_THROW(Config::from_file("/nonexistent/x.yaml"), leseg::Error);
  EXPECT_THROW(c.apply_override("novalue"), leseg::Error);
  EXPECT_THROW(Config::from_string("a: [1, 2\n"), leseg::Error);
}
