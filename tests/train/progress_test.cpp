// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "train/progress.h"

using namespace leseg::train;

TEST(Progress, PlainLinesWhenNotATty) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  {
    Progress p("train", 4, 2, /*is_tty=*/false, f);
    for (int i = 0; i < 4; ++i) p.step(2, 1000, 1.0 / (i + 1));
  }
  std::fclose(f);
  std::string s(buf, len);
  free(buf);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 2) << s;  // every 2 steps
  EXPECT_EQ(s.find('\r'), std::string::npos);
  EXPECT_NE(s.find("4/4"), std::string::npos) << s;
  EXPECT_NE(s.find("scenes/s"), std::string::npos);
  EXPECT_NE(s.find("eta"), std::string::npos);
}

TEST(Progress, Durations) {
  EXPECT_EQ(Progress::format_duration(5.04), "5.0s");
  EXPECT_EQ(Progress::format_duration(245), "4m05s");
  EXPECT_EQ(Progress::format_duration(3723), "1h02m03s");
}

TEST(MetricsLog, AppendsJsonLines) {
  auto path = std::filesystem::temp_directory_path() / "leseg_metrics_test.jsonl";
  std::filesystem::remove(path);
  {
    MetricsLog log(path.string());
    log.write({{"step", 1}, {"loss", 0.5}});
    log.write({{"step", 2}, {"loss", 0.25}});
  }
  std::ifstream in(path);
  std::string l1, l2;
  std::getline(in, l1);
  std::getline(in, l2);
  EXPECT_EQ(nlohmann::json::parse(l2)["loss"], 0.25);
  std::filesystem::remove(path);
}

TEST(StopSignal, SigtermSetsTheFlag) {
  install_stop_handlers();
  clear_stop_request();
  EXPECT_FALSE(stop_requested());
  std::raise(SIGTERM);
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGTERM);
  clear_stop_request();
}
