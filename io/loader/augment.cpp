// SPDX-License-Identifier: Apache-2.0
#include "io/loader/augment.h"

#include <algorithm>
#include <cmath>

#include "io/synthetic/random.h"

namespace leseg::io::loader {

namespace {

constexpr uint64_t kStreamTransform = 0xA11, kStreamJitter = 0xA12, kStreamColor = 0xA13;

void check_points(const Tensor& t, DType dt, const char* what) {
  LESEG_CHECK(t.defined() && t.ndim() == 2 && t.size(1) == 3 && t.dtype() == dt && t.device().is_cpu(), "augment: ",
              what, " must be (N, 3) ", dtype_name(dt), " on the CPU, got ", t.defined() ? t.str() : "undefined");
}

double clip_normal(synth::Rng& rng, double sigma, double clip) {
  const double v = sigma * rng.normal();
  return clip > 0 ? std::clamp(v, -clip, clip) : v;
}

}  // namespace

PointTransform draw_transform(const Tensor& coords, const AugmentOptions& opt, uint64_t seed) {
  check_points(coords, DType::f32, "coords");
  LESEG_CHECK(opt.scale_lo > 0 && opt.scale_lo <= opt.scale_hi, "augment: scale range (", opt.scale_lo, ", ",
              opt.scale_hi, ") must satisfy 0 < lo <= hi");
  PointTransform t;
  const int64_t n = coords.size(0);
  if (opt.center && n > 0) {
    const float* p = coords.data<float>();
    double s[3] = {0, 0, 0};
    for (int64_t i = 0; i < n; ++i)
      for (int a = 0; a < 3; ++a) s[a] += p[3 * i + a];
    for (int a = 0; a < 3; ++a) t.center[a] = s[a] / double(n);
  }
  if (!opt.enabled) return t;
  synth::Rng rng(seed, kStreamTransform);
  // Fixed draw order (theta, flips, scales, colour drop) whatever is enabled, so switching one
  // augmentation off does not change the others' draws.
  const double theta = 6.283185307179586 * rng.unit();
  const bool fx = rng.chance(opt.flip_x), fy = rng.chance(opt.flip_y);
  double sc[3];
  for (double& s : sc) s = rng.uniform(opt.scale_lo, opt.scale_hi);
  const bool drop = rng.chance(opt.color_drop);
  t.theta = opt.rotate_z ? theta : 0.0;
  t.flip_x = fx;
  t.flip_y = fy;
  for (int a = 0; a < 3; ++a) t.scale[a] = sc[a];
  t.color_dropped = drop;
  const double c = std::cos(t.theta), s = std::sin(t.theta);
  const double r[3][3] = {{c, -s, 0}, {s, c, 0}, {0, 0, 1}};
  const double fs[3] = {(fx ? -1.0 : 1.0) * sc[0], (fy ? -1.0 : 1.0) * sc[1], sc[2]};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) t.m[i][j] = r[i][j] * fs[j];
  return t;
}

Tensor augment_coords(const Tensor& coords, const PointTransform& t, const AugmentOptions& opt, uint64_t seed) {
  check_points(coords, DType::f32, "coords");
  const int64_t n = coords.size(0);
  Tensor out = Tensor::empty(Shape{n, 3}, DType::f32);
  const float* p = coords.data<float>();
  float* q = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const double d[3] = {p[3 * i] - t.center[0], p[3 * i + 1] - t.center[1], p[3 * i + 2] - t.center[2]};
    for (int a = 0; a < 3; ++a) q[3 * i + a] = float(t.m[a][0] * d[0] + t.m[a][1] * d[1] + t.m[a][2] * d[2]);
  }
  if (opt.enabled && opt.jitter_sigma > 0) {
    synth::Rng rng(seed, kStreamJitter);
    for (int64_t i = 0; i < 3 * n; ++i) q[i] += float(clip_normal(rng, opt.jitter_sigma, opt.jitter_clip));
  }
  return out;
}

Tensor augment_normals(const Tensor& normals, const PointTransform& t) {
  check_points(normals, DType::f32, "normals");
  // M = R F S -> M^-T = R F S^-1 (R orthogonal, F and S diagonal): column j of R scaled by f_j / s_j.
  double mi[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const double col = t.m[i][j] / t.scale[j];  // r_ij f_j
      mi[i][j] = col / t.scale[j];
    }
  const int64_t n = normals.size(0);
  Tensor out = Tensor::empty(Shape{n, 3}, DType::f32);
  const float* p = normals.data<float>();
  float* q = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    double v[3];
    for (int a = 0; a < 3; ++a) v[a] = mi[a][0] * p[3 * i] + mi[a][1] * p[3 * i + 1] + mi[a][2] * p[3 * i + 2];
    const double len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    const double inv = len > 0 ? 1.0 / len : 0.0;
    for (int a = 0; a < 3; ++a) q[3 * i + a] = float(v[a] * inv);
  }
  return out;
}

Tensor color_features(const Tensor& colors, const PointTransform& t, const AugmentOptions& opt, uint64_t seed) {
  check_points(colors, DType::u8, "colors");
  const int64_t n = colors.size(0);
  Tensor out = Tensor::zeros(Shape{n, 3}, DType::f32);
  if (t.color_dropped) return out;
  const uint8_t* c = colors.data<uint8_t>();
  float* q = out.data<float>();
  const bool jitter = opt.enabled && opt.color_jitter_sigma > 0;
  synth::Rng rng(seed, kStreamColor);
  for (int64_t i = 0; i < 3 * n; ++i) {
    double v = c[i];
    if (jitter) v = std::clamp(v + opt.color_jitter_sigma * rng.normal(), 0.0, 255.0);
    q[i] = float(v / 127.5 - 1.0);
  }
  return out;
}

}  // namespace leseg::io::loader
