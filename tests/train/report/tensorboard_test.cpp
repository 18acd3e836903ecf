// SPDX-License-Identifier: Apache-2.0
// TensorBoard event files: CRC32C against its published check value, the record framing read back with CRCs
// checked, metrics records mapped to tags, `train.tensorboard: true` in a real run, and the round trip that
// matters — Python's `tensorboard` package (EventAccumulator, from the venv scripts/tensorboard_venv.sh makes;
// $LESEG_TB_PYTHON overrides) reads our file back with the same tags, steps and values. Without that venv the
// round-trip test skips, saying how to create it; without protobuf in the build the writer must refuse clearly.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/train/train_fixture.h"
#include "train/cli.h"
#include "train/progress.h"
#include "train/report/tensorboard.h"

namespace fs = std::filesystem;
using namespace leseg::train::report;

namespace {

std::string event_file(const std::string& dir) {
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) return e.path().string();
  return "";
}

std::string tb_python() {
  if (const char* p = std::getenv("LESEG_TB_PYTHON")) return p;
  const char* src = std::getenv("LESEG_SOURCE_DIR");
  const fs::path p = fs::path(src ? src : LESEG_SOURCE_DIR) / ".venv-tensorboard" / "bin" / "python";
  return fs::exists(p) ? p.string() : "";
}

std::string run(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  *rc = pclose(p);
  return out;
}

}  // namespace

TEST(TensorBoard, Crc32cCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(TensorBoard, TagsOfMetricsRecords) {
  const nlohmann::json tr = {{"type", "train"}, {"step", 5}, {"epoch", 1}, {"loss", 1.5}, {"points", 100},
                             {"terms", {{"ce", 1.0}, {"aux", 0.5}}}, {"lr", {{"net", 0.1}}}, {"grad_norm", 2.0}};
  std::map<std::string, double> t;
  for (auto& [k, v] : tensorboard_tags(tr)) t[k] = v;
  EXPECT_EQ(t, (std::map<std::string, double>{{"train/loss", 1.5}, {"train/ce", 1.0}, {"train/aux", 0.5},
                                              {"train/lr/net", 0.1}, {"train/grad_norm", 2.0}}));
  const nlohmann::json ev = {{"type", "eval"}, {"step", 5}, {"miou", 0.4}, {"iou", {{"wall", 0.8}, {"sofa", nullptr}}}};
  t.clear();
  for (auto& [k, v] : tensorboard_tags(ev)) t[k] = v;
  EXPECT_EQ(t, (std::map<std::string, double>{{"eval/miou", 0.4}, {"eval/iou/wall", 0.8}}));
  EXPECT_TRUE(tensorboard_tags({{"type", "end"}, {"seconds", 3.0}}).empty());
}

TEST(TensorBoard, WriterRoundTripInCpp) {
  const std::string dir = leseg::train::testing::scratch("tb_cpp");
  if (!tensorboard_available()) {
    try {
      TensorBoardWriter w(dir);
      FAIL() << "a build without protobuf must refuse";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("protobuf"), std::string::npos) << e.what();
    }
    GTEST_SKIP() << "built without protobuf (libprotobuf-dev, protobuf-compiler): event files disabled";
  }
  std::string path;
  {
    TensorBoardWriter w(dir);
    w.scalar("a/x", 1, 0.25);
    w.scalar("a/x", 2, -3.5);
    w.record({{"type", "train"}, {"step", 7}, {"loss", 1.25}, {"terms", {{"ce", 1.25}}}});
    path = w.path();
  }
  std::vector<EventScalar> s = read_tensorboard_scalars(path);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].tag, "a/x");
  EXPECT_EQ(s[0].step, 1);
  EXPECT_FLOAT_EQ(s[0].value, 0.25f);
  EXPECT_FLOAT_EQ(s[1].value, -3.5f);
  EXPECT_EQ(s[2].tag, "train/loss");
  EXPECT_EQ(s[2].step, 7);
  EXPECT_EQ(s[3].tag, "train/ce");
  // a flipped byte is caught by the CRC and named
  {
    // Flip every bit of a byte of the last record's CRC: writing a fixed value left the file unchanged whenever the
    // byte already had it (the CRC covers the event's wall time, so about one run in 256).
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-3, std::ios::end);
    const char b = char(f.get());
    f.seekp(-3, std::ios::end);
    f.put(char(~b));
  }
  try {
    read_tensorboard_scalars(path);
    FAIL() << "corruption not detected";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
  }
}

// A real run with train.tensorboard: true, read back by TensorBoard's own Python reader.
TEST(TensorBoard, TrainRunReadByPythonTensorboard) {
  if (!tensorboard_available()) GTEST_SKIP() << "built without protobuf: event files disabled";
  const std::string dir = leseg::train::testing::scratch("tb_run");
  fs::create_directories(dir);
  const std::string cfg = (fs::path(dir) / "tiny.yaml").string();
  std::ofstream(cfg) << "seed: 1\nregime: supervised\n"
                     << "data: {root: " << leseg::train::testing::tiny_dataset() << ", batch_size: 2, voxel_size: 0.2}\n"
                     << "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8], init_dim: 8}\n"
                     << "optim: {name: sgd, lr: 0.05, sched: {name: cosine, warmup: 0}}\n"
                     << "train: {epochs: 1, log_every: 1, eval_every: 1, tensorboard: true}\n";
  ::testing::internal::CaptureStdout();
  const int rc = leseg::train::run_cli({"train", cfg, "--out", dir + "/run", "--log-format", "json"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  leseg::train::set_log_format(leseg::train::LogFormat::Text);
  ASSERT_EQ(rc, 0) << out;
  {  // --log-format json: every console line is one JSON object: start, progress lines, the eval record, done
    std::istringstream is(out);
    std::string line;
    std::set<std::string> types;
    while (std::getline(is, line)) types.insert(nlohmann::json::parse(line).value("type", ""));
    EXPECT_EQ(types, (std::set<std::string>{"start", "progress", "eval", "done"})) << out;
  }
  const std::string ev = event_file(dir + "/run/tensorboard");
  ASSERT_FALSE(ev.empty()) << "no event file in " << dir << "/run/tensorboard";
  // expected: every scalar of metrics.jsonl
  std::map<std::pair<std::string, int64_t>, double> want;
  {
    std::ifstream f(dir + "/run/metrics.jsonl");
    std::string line;
    while (std::getline(f, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      for (auto& [tag, v] : tensorboard_tags(j)) want[{tag, j["step"].get<int64_t>()}] = v;
    }
  }
  ASSERT_TRUE(want.count({"train/loss", 1}));
  ASSERT_TRUE(want.count({"eval/miou", 2}));
  std::map<std::pair<std::string, int64_t>, double> cpp;
  for (const auto& s : read_tensorboard_scalars(ev)) cpp[{s.tag, s.step}] = s.value;
  ASSERT_EQ(cpp.size(), want.size());
  for (auto& [k, v] : want) EXPECT_NEAR(cpp[k], v, 1e-6 * std::max(1.0, std::fabs(v))) << k.first << " @ " << k.second;

  const std::string py = tb_python();
  if (py.empty())
    GTEST_SKIP() << "Python tensorboard venv absent (.venv-tensorboard): run scripts/tensorboard_venv.sh "
                    "(or set LESEG_TB_PYTHON) for the TensorBoard round trip; the C++ read-back above passed";
  const std::string script = (fs::path(dir) / "read.py").string();
  std::ofstream(script) << "import sys\n"
                           "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
                           "ea = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})\n"
                           "ea.Reload()\n"
                           "for tag in ea.Tags()['scalars']:\n"
                           "    for e in ea.Scalars(tag):\n"
                           "        print(tag, e.step, repr(e.value), sep='\\t')\n";
  int prc = 0;
  const std::string got = run("'" + py + "' '" + script + "' '" + dir + "/run/tensorboard' 2>&1", &prc);
  ASSERT_EQ(prc, 0) << got;
  std::map<std::pair<std::string, int64_t>, double> pyv;
  std::istringstream is(got);
  std::string line;
  while (std::getline(is, line)) {  // tag \t step \t value (tags may hold spaces: class names)
    const size_t a = line.find('\t'), b = line.rfind('\t');
    if (a == std::string::npos || a == b) continue;
    pyv[{line.substr(0, a), std::stoll(line.substr(a + 1, b - a - 1))}] = std::stod(line.substr(b + 1));
  }
  ASSERT_EQ(pyv.size(), want.size()) << got;
  for (auto& [k, x] : want) {
    ASSERT_TRUE(pyv.count(k)) << k.first << " @ " << k.second << " missing in TensorBoard's reading:\n" << got;
    EXPECT_NEAR(pyv[k], x, 1e-6 * std::max(1.0, std::fabs(x))) << k.first << " @ " << k.second;
  }
}
