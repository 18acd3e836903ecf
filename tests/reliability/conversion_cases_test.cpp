// SPDX-License-Identifier: Apache-2.0
// Issue 21, the conversions a user expects to work: ScanNet frames named zero-padded or not, PLY folders with
// a class list (classes absent from the files kept), --val / --val-fraction splits, converted datasets passing
// `inspect` and `data check`, and labels outside the given classes named by scene, file and point.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "io/check.h"
#include "io/convert.h"
#include "io/datasets/scannet.h"
#include "io/datasets/scene_io.h"
#include "io/formats/image.h"
#include "io/formats/point_cloud.h"
#include "tests/io/formats/test_util.h"
#include "tests/train/train_fixture.h"
#include "train/cli.h"

namespace fs = std::filesystem;
using namespace leseg;
using leseg::train::testing::scratch;

namespace {

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

// An exported-frames folder with frames 0 and 10 named with `pad` digits (0 = unpadded).
std::string frames_dir(const std::string& name, int pad) {
  const fs::path d = scratch(name);
  auto id = [&](int k) {
    std::string s = std::to_string(k);
    return pad > 0 ? std::string(size_t(std::max<int>(0, pad - int(s.size()))), '0') + s : s;
  };
  write_text(d / "intrinsic" / "intrinsic_depth.txt", "500 0 16 0\n0 500 12 0\n0 0 1 0\n0 0 0 1\n");
  for (int k : {0, 10}) {
    write_text(d / "pose" / (id(k) + ".txt"), "1 0 0 0\n0 1 0 0\n0 0 1 " + std::to_string(k) + "\n0 0 0 1\n");
    Tensor img = Tensor::zeros(Shape{24, 32, 3}, DType::u8);
    img.data<uint8_t>()[0] = uint8_t(k);
    fs::create_directories(d / "color");
    io::write_png_rgb((d / "color" / (id(k) + ".png")).string(), img);
    Tensor depth = Tensor::full(Shape{24, 32}, 1500.0, DType::i32);
    fs::create_directories(d / "depth");
    io::write_png_u16((d / "depth" / (id(k) + ".png")).string(), depth);
  }
  return d.string();
}

// A PLY file with n points on a plane and labels cycling over `labels`.
void write_ply_file(const std::string& path, int64_t n, const std::vector<int32_t>& labels) {
  io::Scene s;
  std::vector<float> c(static_cast<size_t>(3 * n));
  std::vector<int32_t> l(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    c[size_t(3 * i)] = float(i % 17) * 0.1f;
    c[size_t(3 * i + 1)] = float(i / 17) * 0.1f;
    c[size_t(3 * i + 2)] = 0.f;
    l[size_t(i)] = labels[size_t(i) % labels.size()];
  }
  s.coords = Tensor::from_vector(c, Shape{n, 3});
  s.labels = Tensor::from_vector(l, Shape{n});
  fs::create_directories(fs::path(path).parent_path());
  io::write_ply_scene(path, s);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ConversionCases, ScanNetFramesZeroPaddedOrNot) {
  for (int pad : {0, 5, 6}) {
    SCOPED_TRACE(pad);
    const std::string d = frames_dir("frames_pad" + std::to_string(pad), pad);
    io::ScanNetReport rep;
    std::vector<io::View> v = io::read_scannet_frames(d, {}, &rep);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].name, "0");
    EXPECT_EQ(v[1].name, "10");
    ASSERT_TRUE(v[1].image.defined());
    EXPECT_EQ(v[1].image.data<uint8_t>()[0], 10);  // frame 10's own colour file, found under its padded stem
    ASSERT_TRUE(v[1].depth.defined());
    EXPECT_FLOAT_EQ(v[1].depth.data<float>()[0], 1.5f);
    EXPECT_FLOAT_EQ(v[1].cam_to_world.data<float>()[11], 10.f);
  }
  // Two stems naming one frame are an error naming both files.
  const std::string d = frames_dir("frames_dup", 5);
  write_text(fs::path(d) / "pose" / "10.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n");
  const std::string m = error_of([&] { io::read_scannet_frames(d); });
  EXPECT_NE(m.find("pose/00010.txt and pose/10.txt"), std::string::npos) << m;
}

TEST(ConversionCases, PlyFolderWithClassListAndValFractionPassesInspect) {
  const fs::path dir = scratch("ply_folder");
  // classes 10..12 absent from every file: the 13-class list must survive
  for (int k = 0; k < 4; ++k) write_ply_file((dir / "src" / ("tile_" + std::to_string(k) + ".ply")).string(), 400, {-1, 0, 3, 9});
  std::string classes;
  for (int c = 0; c < 13; ++c) classes += "c" + std::to_string(c) + "\n";
  write_text(dir / "classes.txt", "# SensatUrban-like\n" + classes);
  const std::string out = (dir / "out").string();
  io::ConvertOptions o;
  o.class_names = io::read_class_names((dir / "classes.txt").string());
  o.val_fraction = 0.25;
  io::ConvertResult r = io::convert("ply", (dir / "src").string(), out, o);
  EXPECT_EQ(r.scenes, 4);
  io::DatasetInfo info = io::read_dataset_info(out);
  EXPECT_EQ(info.classes.size(), 13u);
  EXPECT_EQ(info.classes[12], "c12");
  EXPECT_EQ(io::read_split(out, "val").size(), 1u);
  EXPECT_EQ(io::read_split(out, "train").size(), 3u);
  io::InspectReport ins = io::inspect(out);
  EXPECT_TRUE(ins.missing.empty()) << ins.text;
  ASSERT_FALSE(ins.warnings.empty());
  EXPECT_NE(ins.warnings[0].find("text_embeddings"), std::string::npos);
  EXPECT_TRUE(io::check_dataset(out).ok()) << io::check_dataset(out).str();

  // Without a class list the classes come from the largest label present, and the note says so.
  io::ConvertResult d = io::convert("ply", (dir / "src").string(), (dir / "out_default").string());
  EXPECT_EQ(io::read_dataset_info((dir / "out_default").string()).classes.size(), 10u);
  bool noted = false;
  for (auto& n : d.notes) noted = noted || n.find("--classes FILE") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(ConversionCases, ValListNumClassesAndTheirErrors) {
  const fs::path dir = scratch("ply_val");
  write_ply_file((dir / "src" / "a.ply").string(), 100, {0, 1});
  write_ply_file((dir / "src" / "b.ply").string(), 100, {2, 5});
  write_ply_file((dir / "src" / "c.ply").string(), 100, {1});
  // the CLI flags
  ::testing::internal::CaptureStdout();
  int rc = train::run_cli({"data", "convert", "--from", "ply", (dir / "src").string(), "--to", (dir / "out").string(),
                           "--num-classes", "8", "--val", "b,c"});
  std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(io::read_split((dir / "out").string(), "val"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(io::read_split((dir / "out").string(), "train"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(io::read_dataset_info((dir / "out").string()).classes.size(), 8u);
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(train::run_cli({"data", "inspect", (dir / "out").string(), "--calibration-scenes", "0"}), 0);
  ::testing::internal::GetCapturedStdout();

  io::ConvertOptions o;
  o.val_scenes = {"nope"};
  std::string m = error_of([&] { io::convert("ply", (dir / "src").string(), (dir / "o2").string(), o); });
  EXPECT_NE(m.find("--val names scene 'nope'"), std::string::npos) << m;
  // a label beyond --num-classes: scene, source file, field and point named
  o = {};
  o.num_classes = 4;
  m = error_of([&] { io::convert("ply", (dir / "src").string(), (dir / "o3").string(), o); });
  EXPECT_NE(m.find("scene 'b'"), std::string::npos) << m;
  EXPECT_NE(m.find("b.ply"), std::string::npos) << m;
  EXPECT_NE(m.find("field 'label': value 5 at point 1"), std::string::npos) << m;
  // a class list that disagrees with a format's own mapping
  o = {};
  o.num_classes = 7;
  m = error_of([&] { io::convert("scannet", (dir / "src").string(), (dir / "o4").string(), o); });
  EXPECT_NE(m.find("--num-classes 7 disagrees with the 20 classes"), std::string::npos) << m;
}

// The real SemanticKITTI sample (skips visibly when ../shared/data is absent): converted, it passes `inspect`
// and `data check`; the same scan cut short fails naming the file.
TEST(ConversionCases, RealSemanticKittiSampleConvertsCleanAndDamagedIsNamed) {
  LESEG_REQUIRE_SHARED_DATA(src, "semantickitti");
  const fs::path dir = scratch("kitti_real");
  io::ConvertResult r = io::convert("semantickitti", src, (dir / "out").string());
  EXPECT_EQ(r.scenes, 1);
  io::InspectReport ins = io::inspect((dir / "out").string());
  EXPECT_TRUE(ins.missing.empty()) << ins.text;
  io::CheckReport c = io::check_dataset((dir / "out").string());
  EXPECT_TRUE(c.ok()) << c.str();
  // a damaged copy: the scan loses 5 bytes
  fs::copy(src, dir / "bad", fs::copy_options::recursive);
  const fs::path bin = dir / "bad" / "sequences" / "00" / "velodyne" / "000000.bin";
  fs::resize_file(bin, fs::file_size(bin) - 5);
  const std::string m = error_of([&] { io::convert("semantickitti", (dir / "bad").string(), (dir / "out2").string()); });
  EXPECT_NE(m.find("000000.bin"), std::string::npos) << m;
}
