// SPDX-License-Identifier: Apache-2.0
// `leseg view`: the page and three.js copies are written, the cap subsamples, a `leseg infer`-style PLY gives
// prediction + ground truth, bad inputs are named — and in a real browser: headless Chromium (Debian's
// `chromium`, which scripts/setup.sh installs; $LESEG_CHROMIUM overrides) loads the page with SwiftShader WebGL,
// the screenshot's canvas area is not blank, and the DOM after the scripts ran lists the classes in the legend.
// Without a Chromium that starts, the browser test skips and says why.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "io/datasets/scene_io.h"
#include "io/formats/image.h"
#include "io/formats/ply.h"
#include "tests/train/train_fixture.h"
#include "train/cli.h"
#include "train/report/canvas.h"
#include "train/report/viewer.h"

namespace fs = std::filesystem;
using namespace leseg;
using namespace leseg::train::report;

namespace {

std::string first_val_scene(const std::string& root) {
  std::ifstream f(fs::path(root) / "val.txt");
  std::string name;
  std::getline(f, name);
  return (fs::path(root) / "scenes" / name).string();
}

std::string sh(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return *rc = -1, out;
  char buf[4096];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, k);
  *rc = pclose(p);
  return out;
}

std::string chromium() {
  if (const char* c = std::getenv("LESEG_CHROMIUM")) return c;
  for (const char* c : {"chromium", "chromium-browser", "google-chrome"}) {
    int rc = 0;
    std::string p = sh(std::string("command -v ") + c + " 2>/dev/null", &rc);
    while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
    if (rc == 0 && !p.empty()) return p;
  }
  return "";
}

}  // namespace

TEST(Viewer, PageWithThreeJsAndCap) {
  const std::string data = train::testing::tiny_views_dataset("viewer", 3);
  const std::string out = train::testing::scratch("viewer_page");
  ViewerOptions o;
  o.out_dir = out;
  o.max_points = 500;
  ViewerResult r = write_viewer(first_val_scene(data), o);
  EXPECT_TRUE(fs::exists(fs::path(out) / "index.html"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "three.min.js"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "OrbitControls.js"));
  EXPECT_GT(r.points, 500);
  EXPECT_EQ(r.shown, 500);
  EXPECT_TRUE(r.has_gt);
  EXPECT_TRUE(r.has_pseudo);  // the views' CLIP-like labels projected to the points
  EXPECT_FALSE(r.has_pred);
  const std::string html = read_file_bytes(r.html_path);
  EXPECT_NE(html.find("\"shown\":500"), std::string::npos);
  EXPECT_NE(html.find("\"wall\""), std::string::npos);  // class names from the dataset
  EXPECT_EQ(html.find("http://"), std::string::npos) << "the page must work offline";
  EXPECT_EQ(html.find("https://"), std::string::npos) << "the page must work offline";
}

TEST(Viewer, InferPlyAndErrors) {
  const std::string dir = train::testing::scratch("viewer_ply");
  fs::create_directories(dir + "/pred");
  std::vector<io::PlyColumn> cols = {{"x", io::PlyType::f32, {0, 1, 2}}, {"y", io::PlyType::f32, {0, 1, 0}},
                                     {"z", io::PlyType::f32, {0, 0, 1}}, {"label", io::PlyType::i32, {0, 1, 1}},
                                     {"gt", io::PlyType::i32, {0, 1, 0}}};
  io::write_ply(dir + "/pred/room_pred.ply", cols);
  ViewerOptions o;
  o.out_dir = dir + "/out";
  ViewerResult r = write_viewer(dir + "/pred", o);  // the infer folder: its one *_pred.ply
  EXPECT_EQ(r.points, 3);
  EXPECT_TRUE(r.has_pred);
  EXPECT_TRUE(r.has_gt);
  EXPECT_EQ(r.classes, 2);  // no dataset: "class 0", "class 1"
  try {
    write_viewer(dir + "/missing", o);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  o.predictions = dir + "/nope.npy";
  try {
    write_viewer(dir + "/pred", o);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("nope.npy"), std::string::npos) << e.what();
  }
  o.predictions.clear();
  o.three_dir = dir + "/no-three";
  try {
    write_viewer(dir + "/pred", o);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("libjs-three"), std::string::npos) << e.what();
  }
}

TEST(Viewer, HeadlessChromiumRendersAndListsClasses) {
  const std::string data = train::testing::tiny_views_dataset("viewer", 3);
  const std::string out = train::testing::scratch("viewer_browser");
  ::testing::internal::CaptureStdout();
  const int rc = train::run_cli({"view", first_val_scene(data), "--out", out});
  const std::string log = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << log;
  const std::string chrome = chromium();
  if (chrome.empty()) GTEST_SKIP() << "no Chromium (install Debian's chromium: scripts/setup.sh does; or set LESEG_CHROMIUM)";
  const std::string url = "file://" + fs::absolute(fs::path(out) / "index.html").string();
  const std::string flags = " --headless --no-sandbox --disable-dev-shm-usage --use-angle=swiftshader --enable-unsafe-swiftshader "
                            "--hide-scrollbars --window-size=1000,640 --virtual-time-budget=8000 --user-data-dir='" + out + "/profile' ";
  const std::string shot = out + "/shot.png";
  int src = 0;
  const std::string slog = sh("timeout 120 '" + chrome + "'" + flags + "--screenshot='" + shot + "' '" + url + "' 2>&1", &src);
  if (!fs::exists(shot)) GTEST_SKIP() << "Chromium did not start or wrote no screenshot (rc " << src << "): " << slog.substr(0, 2000);
  int drc = 0;
  const std::string dom = sh("timeout 120 '" + chrome + "'" + flags + "--dump-dom '" + url + "' 2>/dev/null", &drc);
  ASSERT_NE(dom.find("data-rendered="), std::string::npos) << "the page's script did not finish:\n" << dom.substr(0, 4000);
  EXPECT_EQ(dom.find("data-error="), std::string::npos) << dom.substr(0, 4000);
  // the legend lists the classes present in the scene's labels
  const io::DatasetInfo info = io::read_dataset_info(data);
  int listed = 0;
  for (const auto& c : info.classes) listed += dom.find("</span>" + c + "</label>") != std::string::npos;
  EXPECT_GE(listed, 3) << dom.substr(0, 4000);
  EXPECT_NE(dom.find("</span>wall</label>"), std::string::npos);
  EXPECT_NE(dom.find("</span>floor</label>"), std::string::npos);
  // the WebGL canvas (left of the 260 px panel) is not blank: many pixels differ from the background, in several colours
  Tensor img = io::read_image_rgb(shot);
  const int64_t H = img.size(0), W = img.size(1);
  const uint8_t* p = img.data<uint8_t>();
  int64_t lit = 0;
  std::set<int> colours;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W - 270; ++x) {
      const uint8_t* q = p + (y * W + x) * 3;
      if (std::abs(q[0] - 30) + std::abs(q[1] - 30) + std::abs(q[2] - 30) > 40) {
        ++lit;
        colours.insert((q[0] >> 4) << 8 | (q[1] >> 4) << 4 | (q[2] >> 4));
      }
    }
  EXPECT_GT(lit, 2000) << "canvas looks blank: " << shot;
  EXPECT_GE(colours.size(), 5u) << "canvas has too few colours: " << shot;
}
