// SPDX-License-Identifier: Apache-2.0
// A corpus of damaged real-format files, generated here from valid ones (.npy, SemanticKITTI .bin / .label,
// PNG, JPEG, YAML configs, PLY, PCD, pose/intrinsic text): truncations, header byte flips and seeded random
// mutations. Every read either succeeds or throws an error whose message names the file; none crashes or
// hangs. Files cut to half their size or less must fail where the format can tell (JPEG, YAML and text
// prefixes can be valid).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "engine/error.h"
#include "io/datasets/scene_io.h"
#include "io/datasets/semantickitti.h"
#include "io/formats/image.h"
#include "io/formats/npy.h"
#include "io/formats/pcd.h"
#include "io/formats/point_cloud.h"
#include "tests/train/train_fixture.h"
#include "train/config.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

namespace fs = std::filesystem;
using namespace leseg;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
void write_all(const std::string& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

struct Format {
  std::string name, ext;
  Bytes valid;
  std::function<void(const std::string&)> read;  // throws on bad input
  bool truncation_detected = true;               // every strict prefix must fail
};

struct Tally {
  int cases = 0, errors = 0, ok = 0;
};

// Variants of `b`: truncations, header flips, random single bytes and bursts (seeded).
std::vector<std::pair<std::string, Bytes>> variants(const Bytes& b, uint64_t seed) {
  std::vector<std::pair<std::string, Bytes>> v;
  const size_t n = b.size();
  for (size_t len : {size_t(0), size_t(1), size_t(4), size_t(8), size_t(12), size_t(16), size_t(32), size_t(64),
                     size_t(100), n / 4, n / 2})
    if (len < n) v.push_back({"truncated to " + std::to_string(len), Bytes(b.begin(), b.begin() + std::ptrdiff_t(len))});
  // the last byte cut: a PNG without the end of its IEND chunk still holds every pixel (stb reads it)
  v.push_back({"last byte cut", Bytes(b.begin(), b.end() - 1)});
  for (size_t i = 0; i < std::min<size_t>(n, 160); i += 3) {
    Bytes c = b;
    c[i] ^= 0xFF;
    v.push_back({"byte " + std::to_string(i) + " flipped", c});
  }
  std::mt19937_64 rng(seed);
  for (int k = 0; k < 120; ++k) {
    Bytes c = b;
    const int burst = k % 3 == 0 ? 8 : 1;
    const size_t at = size_t(rng() % n);
    for (int j = 0; j < burst && at + size_t(j) < n; ++j) c[at + size_t(j)] = uint8_t(rng());
    v.push_back({"random mutation " + std::to_string(k), c});
  }
  return v;
}

}  // namespace

TEST(DamagedFiles, EveryDamagedFileReadsOrNamesItself) {
  const fs::path dir = train::testing::scratch("damaged");
  fs::create_directories(dir);
  std::vector<Format> formats;

  {  // .npy: coordinates f4
    std::vector<float> c(60);
    for (size_t i = 0; i < c.size(); ++i) c[i] = float(i) * 0.25f;
    io::write_npy((dir / "v.npy").string(), Tensor::from_vector(c, Shape{20, 3}));
    formats.push_back({"npy", ".npy", read_all((dir / "v.npy").string()), [](const std::string& p) { io::read_npy(p); }});
  }
  {  // SemanticKITTI scan (x, y, z, remission f32) and its labels (u32: semantic | instance << 16)
    Bytes bin(16 * 40), lab(4 * 40);
    for (int i = 0; i < 40; ++i) {
      const float p[4] = {float(i), float(i) * 0.5f, 1.f, 0.3f};
      std::memcpy(&bin[size_t(16 * i)], p, 16);
      const uint32_t l = uint32_t(i % 2 ? 40 : 10) | (uint32_t(i) << 16);
      std::memcpy(&lab[size_t(4 * i)], &l, 4);
    }
    write_all((dir / "ok.bin").string(), bin);
    write_all((dir / "ok.label").string(), lab);
    const std::string ok_bin = (dir / "ok.bin").string(), ok_label = (dir / "ok.label").string();
    formats.push_back({"kitti .bin", ".bin", bin, [ok_label](const std::string& p) {
                         // the label file matches the intact scan: a scan of another length is an error too
                         io::read_semantickitti_scan(p, ok_label);
                       }});
    formats.push_back({"kitti .label", ".label", lab, [ok_bin](const std::string& p) { io::read_semantickitti_scan(ok_bin, p); }});
  }
  {  // PNG: RGB and 16-bit depth
    Tensor img = Tensor::zeros(Shape{12, 16, 3}, DType::u8);
    for (int64_t i = 0; i < img.numel(); ++i) img.data<uint8_t>()[i] = uint8_t(i * 7);
    io::write_png_rgb((dir / "v.png").string(), img);
    formats.push_back({"png rgb", ".png", read_all((dir / "v.png").string()), [](const std::string& p) { io::read_image_rgb(p); }});
    Tensor d = Tensor::full(Shape{12, 16}, 1234.0, DType::i32);
    io::write_png_u16((dir / "d.png").string(), d);
    formats.push_back({"png u16", ".png", read_all((dir / "d.png").string()), [](const std::string& p) { io::read_image_u16(p); }});
  }
  {  // JPEG (baseline, from stb's writer)
    std::vector<uint8_t> px(24 * 32 * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 13);
    Bytes jpg;
    stbi_write_jpg_to_func([](void* ctx, void* data, int size) {
      auto* out = static_cast<Bytes*>(ctx);
      out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
    }, &jpg, 32, 24, 3, px.data(), 90);
    ASSERT_GT(jpg.size(), 100u);
    // stb decodes what a truncated JPEG still holds (grey fill): a prefix past the headers may be read
    formats.push_back({"jpeg", ".jpg", jpg, [](const std::string& p) { io::read_image_rgb(p); }, false});
  }
  {  // YAML config
    const std::string y =
        "seed: 3\nregime: supervised\ndata: {root: /data/x, batch_size: 2, voxel_size: 0.05}\n"
        "model: {name: MinkUNet14A, planes: [8, 8, 8, 8, 8, 8, 8, 8]}\n"
        "optim: {name: sgd, lr: 0.1, sched: {name: cosine, warmup: 2}}\ntrain: {epochs: 8, out: runs/x}\n";
    // a truncated YAML is often still YAML (a shorter mapping): only crashes and foreign exceptions matter here
    formats.push_back({"yaml config", ".yaml", Bytes(y.begin(), y.end()),
                       [](const std::string& p) {
                         train::Config c = train::Config::from_file(p);
                         (void)c.keys();
                         (void)c.dump();
                       },
                       false});
  }
  {  // PLY (binary) and PCD (binary) point clouds with labels
    io::Scene s;
    std::vector<float> c(90);
    std::vector<int32_t> l(30);
    for (int i = 0; i < 30; ++i) c[size_t(3 * i)] = float(i), c[size_t(3 * i + 1)] = 1.f, c[size_t(3 * i + 2)] = 2.f, l[size_t(i)] = i % 5;
    s.coords = Tensor::from_vector(c, Shape{30, 3});
    s.labels = Tensor::from_vector(l, Shape{30});
    io::write_ply_scene((dir / "v.ply").string(), s);
    formats.push_back({"ply", ".ply", read_all((dir / "v.ply").string()), [](const std::string& p) { io::read_ply_scene(p); }});
    io::write_pcd((dir / "v.pcd").string(), io::cloud_to_pcd(s.coords, Tensor(), s.labels), io::PcdDataFormat::binary);
    formats.push_back({"pcd", ".pcd", read_all((dir / "v.pcd").string()), [](const std::string& p) { io::read_pcd_cloud(p); }});
  }
  {  // pose.txt (4x4): a prefix is a matrix with too few values
    const std::string t = "1 0 0 0.5\n0 1 0 1.25\n0 0 1 -3\n0 0 0 1\n";
    formats.push_back({"pose.txt", ".txt", Bytes(t.begin(), t.end()),
                       [](const std::string& p) { io::read_matrix_txt(p, 4, 4); }, false});
  }

  std::string figure;
  uint64_t seed = 1;
  for (const Format& f : formats) {
    SCOPED_TRACE(f.name);
    const std::string path = (dir / ("case" + f.ext)).string();
    write_all(path, f.valid);
    ASSERT_NO_THROW(f.read(path)) << "the undamaged " << f.name << " must read";
    Tally t;
    for (auto& [what, bytes] : variants(f.valid, seed++)) {
      write_all(path, bytes);
      ++t.cases;
      try {
        f.read(path);
        ++t.ok;
        if (f.truncation_detected) {
          EXPECT_NE(what.rfind("truncated", 0), 0u) << what << ": a truncated file read without error";
        }
      } catch (const Error& e) {
        ++t.errors;
        EXPECT_NE(std::string(e.what()).find("case" + f.ext), std::string::npos)
            << what << ": the error does not name the file: " << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": escaped as a non-leseg exception: " << e.what();
      }
    }
    figure += " " + f.name + " " + std::to_string(t.cases) + " (" + std::to_string(t.errors) + " errors);";
  }
  std::printf("[figure] damaged files:%s\n", figure.c_str());
}
