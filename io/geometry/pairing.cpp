// SPDX-License-Identifier: Apache-2.0
#include "io/geometry/pairing.h"

#include <Eigen/Dense>
#include <cmath>

#include "io/synthetic/random.h"

namespace leseg::io {

kernels::ProjectParams projection_params(const View& view, int height, int width, const PairingOptions& opt) {
  LESEG_CHECK(view.intrinsics.defined() && view.intrinsics.numel() == 9, "pairing: view '", view.name,
              "' needs (3, 3) intrinsics");
  LESEG_CHECK(view.cam_to_world.defined() && view.cam_to_world.numel() == 16, "pairing: view '", view.name,
              "' needs a (4, 4) cam_to_world pose");
  std::vector<double> K = view.intrinsics.to_vector<double>();
  std::vector<double> T = view.cam_to_world.to_vector<double>();
  Eigen::Matrix4d M;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) M(r, c) = T[size_t(4 * r + c)];
  LESEG_CHECK(std::fabs(M.determinant()) > 1e-12, "pairing: view '", view.name, "' has a singular pose");
  Eigen::Matrix4d W = M.inverse();
  kernels::ProjectParams p;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) p.world_to_cam[4 * r + c] = W(r, c);
  p.fx = K[0];
  p.fy = K[4];
  p.cx = K[2];
  p.cy = K[5];
  p.height = height;
  p.width = width;
  p.depth_tol = opt.depth_tol;
  p.min_depth = opt.lidar ? opt.lidar_min_depth : 0.f;
  return p;
}

Tensor project_to_view(const Tensor& coords, const View& view, const PairingOptions& opt) {
  LESEG_CHECK(coords.defined() && coords.ndim() == 2 && coords.size(1) == 3 && coords.dtype() == DType::f32,
              "pairing: coords must be (N, 3) f32, got ", coords.defined() ? coords.str() : std::string("undefined"));
  const int h = view.height(), w = view.width();
  LESEG_CHECK(h > 0 && w > 0, "pairing: view '", view.name, "' has no image or depth to size it");
  const Device dev = coords.device();
  kernels::ProjectParams p = projection_params(view, h, w, opt);
  Tensor depth;
  if (!opt.lidar) {
    LESEG_CHECK(view.depth.defined() && view.depth.dtype() == DType::f32 && view.depth.size(0) == h &&
                    view.depth.size(1) == w,
                "pairing: RGB-D view '", view.name, "' needs a (", h, ", ", w, ") f32 depth map");
    depth = view.depth.device() == dev ? view.depth : view.depth.to(dev);
  }
  const int64_t n = coords.size(0);
  Tensor pix = Tensor::empty(Shape{n}, DType::i32, dev);
  const float* dp = depth.defined() ? depth.data<float>() : nullptr;
  LESEG_DISPATCH_DEVICE(dev, "project_to_view",
      kernels::project_points_cpu(coords.data<float>(), n, p, dp, pix.data<int32_t>(), nullptr),
      kernels::project_points_cuda(coords.data<float>(), n, p, dp, pix.data<int32_t>(), nullptr, current_stream(dev)));
  return pix;
}

Tensor pair_points(const Tensor& coords, const View& view, const PairingOptions& opt) {
  std::vector<int32_t> pix = project_to_view(coords, view, opt).to_vector<int32_t>();
  std::vector<int64_t> out;
  out.reserve(pix.size());
  for (size_t i = 0; i < pix.size(); ++i)
    if (pix[i] >= 0) {
      out.push_back(int64_t(i));
      out.push_back(pix[i]);
    }
  return Tensor::from_vector(out, Shape{int64_t(out.size() / 2), 2});
}

CropPairs random_crop_pairs(const Tensor& pairs, int height, int width, uint64_t seed, const CropOptions& opt) {
  LESEG_CHECK(pairs.defined() && pairs.ndim() == 2 && pairs.size(1) == 2 && pairs.dtype() == DType::i64,
              "random_crop_pairs: pairs must be (P, 2) i64");
  LESEG_CHECK(height > 0 && width > 0 && opt.out_height > 0 && opt.out_width > 0 && opt.max_tries >= 1,
              "random_crop_pairs: bad sizes ", height, "x", width, " -> ", opt.out_height, "x", opt.out_width);
  LESEG_CHECK(opt.scale_lo > 0 && opt.scale_lo <= opt.scale_hi && opt.ratio_lo > 0 && opt.ratio_lo <= opt.ratio_hi,
              "random_crop_pairs: bad scale/ratio ranges");
  std::vector<int64_t> pv = pairs.to_vector<int64_t>();
  const int64_t np = pairs.size(0);
  synth::Rng rng(seed, 0xC409);
  CropPairs best;
  best.tries = 0;
  std::vector<int64_t> kept;
  for (int t = 0; t < opt.max_tries; ++t) {
    int ch = height, cw = width;
    const double area = double(height) * width * rng.uniform(opt.scale_lo, opt.scale_hi);
    const double ratio = std::exp(rng.uniform(std::log(opt.ratio_lo), std::log(opt.ratio_hi)));
    const int w = int(std::lround(std::sqrt(area * ratio))), h = int(std::lround(std::sqrt(area / ratio)));
    if (w >= 1 && h >= 1 && w <= width && h <= height) {
      ch = h;
      cw = w;
    }
    const int top = int(rng.below(uint64_t(height - ch + 1))), left = int(rng.below(uint64_t(width - cw + 1)));
    kept.clear();
    for (int64_t i = 0; i < np; ++i) {
      const int64_t pix = pv[size_t(2 * i + 1)];
      const int v = int(pix / width) - top, u = int(pix % width) - left;
      if (v < 0 || v >= ch || u < 0 || u >= cw) continue;
      const int vo = std::min(opt.out_height - 1, int(int64_t(v) * opt.out_height / ch));
      const int uo = std::min(opt.out_width - 1, int(int64_t(u) * opt.out_width / cw));
      kept.push_back(pv[size_t(2 * i)]);
      kept.push_back(int64_t(vo) * opt.out_width + uo);
    }
    const int64_t nk = int64_t(kept.size() / 2);
    if (!best.pairs.defined() || nk > best.pairs.size(0)) {
      best.top = top;
      best.left = left;
      best.height = ch;
      best.width = cw;
      best.pairs = Tensor::from_vector(kept, Shape{nk, 2});
    }
    best.tries = t + 1;
    if (nk > opt.min_pairs) {
      best.ok = true;
      break;
    }
  }
  return best;
}

}  // namespace leseg::io
