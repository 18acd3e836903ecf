// SPDX-License-Identifier: Apache-2.0
#include "io/datasets/scannet_sens.h"

#include <cmath>

#include "io/formats/sens.h"

namespace leseg::io {

Tensor register_color_to_depth(const Tensor& color, const float Kc[9], const float Kd[9], int64_t H, int64_t W) {
  const int64_t h = color.size(0), w = color.size(1);
  Tensor r = Tensor::zeros(Shape{H, W, 3}, DType::u8);
  const uint8_t* src = color.data<uint8_t>();
  uint8_t* dst = r.data<uint8_t>();
  for (int64_t y = 0; y < H; ++y) {
    const double sy = Kc[5] + Kc[4] * (double(y) - Kd[5]) / Kd[4];
    const int64_t iy = int64_t(std::lround(sy));
    if (iy < 0 || iy >= h) continue;
    for (int64_t x = 0; x < W; ++x) {
      const double sx = Kc[2] + Kc[0] * (double(x) - Kd[2]) / Kd[0];
      const int64_t ix = int64_t(std::lround(sx));
      if (ix < 0 || ix >= w) continue;
      for (int c = 0; c < 3; ++c) dst[(y * W + x) * 3 + c] = src[(iy * w + ix) * 3 + c];
    }
  }
  return r;
}

std::vector<View> read_scannet_sens_views(const std::string& path, const ScanNetFrameOptions& opt, ScanNetReport* report) {
  LESEG_CHECK(opt.stride >= 1, "read_scannet_sens_views: stride must be >= 1");
  SensReader rd(path);
  const SensHeader& h = rd.header();
  auto k3 = [](const float* m, float* k) {
    const int idx[9] = {0, 1, 2, 4, 5, 6, 8, 9, 10};
    for (int i = 0; i < 9; ++i) k[i] = m[idx[i]];
  };
  float Kc[9], Kd[9];
  k3(h.intrinsic_color, Kc);
  k3(h.intrinsic_depth, Kd);
  if (!(Kd[0] > 0 && Kd[4] > 0)) LESEG_FAIL(path, ": intrinsic_depth has non-positive focal lengths");
  if (opt.load_color && !(Kc[0] > 0 && Kc[4] > 0)) LESEG_FAIL(path, ": intrinsic_color has non-positive focal lengths");
  Tensor K = Tensor::from_vector(std::vector<float>(Kd, Kd + 9), Shape{3, 3});
  std::vector<View> views;
  int64_t bad = 0;
  SensFrame f;
  while (true) {
    if (opt.max_frames >= 0 && int(views.size()) >= opt.max_frames) break;
    const int64_t idx = rd.frame_index();
    const bool keep = idx % opt.stride == 0;
    if (!rd.next(&f, keep)) break;
    if (!keep) continue;
    bool finite = true;
    for (float x : f.cam_to_world) finite = finite && std::isfinite(x);
    if (!finite) { ++bad; continue; }
    View v;
    v.name = std::to_string(idx);
    v.intrinsics = K;
    v.cam_to_world = Tensor::from_vector(std::vector<float>(f.cam_to_world, f.cam_to_world + 16), Shape{4, 4});
    v.depth = rd.decode_depth(f);
    if (opt.load_color)
      v.image = register_color_to_depth(rd.decode_color(f), Kc, Kd, v.depth.size(0), v.depth.size(1));
    views.push_back(std::move(v));
  }
  if (report) report->frames_bad_pose += bad;
  return views;
}

}  // namespace leseg::io
