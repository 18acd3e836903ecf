// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/mosd.h"

#include <cmath>
#include <filesystem>

#include "io/formats/pcd.h"

namespace leseg::io {

std::vector<std::string> mosd_classes() { return {"table", "object"}; }

Scene read_mosd_rgbd(const std::string& path, float fx, float fy, float cx, float cy) {
  PcdData p = read_pcd(path);
  if (p.height <= 1) LESEG_FAIL(path, ": not an organised cloud (HEIGHT ", p.height, "): an RGB-D frame is needed");
  const int fxi = p.field_index("x"), fyi = p.field_index("y"), fzi = p.field_index("z");
  int fc = p.field_index("rgba");
  if (fc < 0) fc = p.field_index("rgb");
  const int fl = p.field_index("label");
  if (fxi < 0 || fyi < 0 || fzi < 0 || fc < 0 || fl < 0)
    LESEG_FAIL(path, ": fields x y z rgb(a) label expected (mOSD organised cloud)");
  const int64_t H = p.height, W = p.width, n = H * W;
  Scene s;
  s.name = std::filesystem::path(path).stem().string();
  View v;
  v.name = "0";
  v.image = Tensor::empty(Shape{H, W, 3}, DType::u8);
  v.depth = Tensor::zeros(Shape{H, W}, DType::f32);
  v.gt_labels = Tensor::empty(Shape{H, W}, DType::i32);
  v.intrinsics = Tensor::from_vector(std::vector<float>{fx, 0, cx, 0, fy, cy, 0, 0, 1}, Shape{3, 3});
  v.cam_to_world = Tensor::from_vector(std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, Shape{4, 4});
  uint8_t* img = v.image.data<uint8_t>();
  float* dep = v.depth.data<float>();
  int32_t* gt = v.gt_labels.data<int32_t>();
  std::vector<float> xyz;
  std::vector<uint8_t> rgb;
  std::vector<int32_t> lab, inst;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t c = p.bits32(fc, i);
    img[3 * i] = uint8_t(c >> 16);
    img[3 * i + 1] = uint8_t(c >> 8);
    img[3 * i + 2] = uint8_t(c);
    const int64_t raw = int64_t(p.value(fl, i));
    const int32_t cls = raw >= 1 && raw <= 9 ? 0 : raw >= 20 ? 1 : -1;
    gt[i] = cls;
    const double x = p.value(fxi, i), y = p.value(fyi, i), z = p.value(fzi, i);
    if (!(std::isfinite(x) && std::isfinite(y) && std::isfinite(z)) || z <= 0) continue;
    dep[i] = float(z);
    xyz.insert(xyz.end(), {float(x), float(y), float(z)});
    rgb.insert(rgb.end(), {img[3 * i], img[3 * i + 1], img[3 * i + 2]});
    lab.push_back(cls);
    inst.push_back(cls == 0 ? 0 : cls == 1 ? int32_t(raw / 10 - 1) : -1);
  }
  const int64_t m = int64_t(lab.size());
  if (m == 0) LESEG_FAIL(path, ": no finite point");
  s.coords = Tensor::from_vector(xyz, Shape{m, 3});
  s.colors = Tensor::from_vector(rgb, Shape{m, 3});
  s.labels = Tensor::from_vector(lab, Shape{m});
  s.instances = Tensor::from_vector(inst, Shape{m});
  s.views.push_back(std::move(v));
  return s;
}

}  // namespace leseg::io
