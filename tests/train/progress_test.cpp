// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// The run-wide ETA adds the time still to be spent outside the steps (evaluations to come); the line shows the
// last mIoU and the resident memory; --log-format json prints the same fields as one JSON object per line.
TEST(Progress, MiouMemoryPendingAndJson) {
  EXPECT_GT(resident_memory_bytes(), 1 << 20);
  EXPECT_EQ(format_bytes(3.0 * 1024 * 1024 * 1024), "3.0 GiB");
  EXPECT_EQ(format_bytes(340.0 * 1024 * 1024), "340 MiB");
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  {
    Progress p("train", 4, 4, /*is_tty=*/false, f);
    p.set_miou(0.4567);
    p.set_pending(7200);  // two hours of evaluations still to come
    for (int i = 0; i < 4; ++i) p.step(1, 10, 1.0);
    const nlohmann::json j = p.fields();
    EXPECT_NEAR(j["eta_s"].get<double>(), 7200, 1e-6);  // no step left: only the pending time
    EXPECT_NEAR(j["miou"].get<double>(), 0.4567, 1e-12);
    EXPECT_GT(j["rss_bytes"].get<int64_t>(), 0);
    EXPECT_EQ(j["step"], 4);
  }
  std::fclose(f);
  std::string s(buf, len);
  free(buf);
  EXPECT_NE(s.find("mIoU 45.67"), std::string::npos) << s;
  EXPECT_NE(s.find("mem "), std::string::npos) << s;
  EXPECT_NE(s.find("eta 2h00m00s"), std::string::npos) << s;

  set_log_format(parse_log_format("json"));
  buf = nullptr;
  len = 0;
  f = open_memstream(&buf, &len);
  {
    Progress p("train", 2, 1, /*is_tty=*/true, f);  // JSON lines even on a terminal: no \r redraws
    p.step(1, 10, 0.5);
    p.step(1, 10, 0.25);
  }
  std::fclose(f);
  set_log_format(LogFormat::Text);
  s.assign(buf, len);
  free(buf);
  EXPECT_EQ(s.find('\r'), std::string::npos) << s;
  std::istringstream is(s);
  std::string line;
  int n = 0;
  while (std::getline(is, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);  // every line is one JSON object
    EXPECT_EQ(j["type"], "progress");
    ++n;
  }
  EXPECT_EQ(n, 2);
  EXPECT_THROW(parse_log_format("xml"), std::exception);
}
