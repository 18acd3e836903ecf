// SPDX-License-Identifier: Apache-2.0
#include "train/report/render.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace leseg::train::report {

Tensor render_points(const float* xyz, int64_t n, const std::vector<Rgb>& colors, const std::vector<uint8_t>& visible,
                     Viewpoint vp, int W, int H) {
  LESEG_CHECK(int64_t(colors.size()) == n, "render_points: ", colors.size(), " colours for ", n, " points");
  LESEG_CHECK(visible.empty() || int64_t(visible.size()) == n, "render_points: ", visible.size(), " flags for ", n, " points");
  Tensor img = Tensor::empty(Shape{H, W, 3}, DType::u8);
  uint8_t* out = img.data<uint8_t>();
  std::fill(out, out + size_t(H) * W * 3, uint8_t(255));
  auto vis = [&](int64_t i) { return visible.empty() || visible[size_t(i)]; };
  double lo[3] = {1e30, 1e30, 1e30}, hi[3] = {-1e30, -1e30, -1e30};
  int64_t nv = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!vis(i)) continue;
    ++nv;
    for (int k = 0; k < 3; ++k) lo[k] = std::min(lo[k], double(xyz[i * 3 + k])), hi[k] = std::max(hi[k], double(xyz[i * 3 + k]));
  }
  if (nv == 0) return img;
  const double cx = (lo[0] + hi[0]) / 2, cy = (lo[1] + hi[1]) / 2, cz = (lo[2] + hi[2]) / 2;
  const double diag = std::sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                                (hi[2] - lo[2]) * (hi[2] - lo[2])) + 1e-6;
  // camera frame: right r, up u, forward f (into the scene); eye e
  double r[3], u[3], f[3], e[3];
  const bool persp = vp == Viewpoint::Oblique;
  if (persp) {
    const double az = 225.0 * M_PI / 180, el = 35.0 * M_PI / 180;
    const double d[3] = {std::cos(el) * std::cos(az), std::cos(el) * std::sin(az), std::sin(el)};  // centre -> eye
    for (int k = 0; k < 3; ++k) f[k] = -d[k], e[k] = (k == 0 ? cx : k == 1 ? cy : cz) + 1.5 * diag * d[k];
    r[0] = f[1], r[1] = -f[0], r[2] = 0;  // f x z
    const double rn = std::hypot(r[0], r[1]);
    r[0] /= rn, r[1] /= rn;
    u[0] = r[1] * f[2] - r[2] * f[1], u[1] = r[2] * f[0] - r[0] * f[2], u[2] = r[0] * f[1] - r[1] * f[0];
  } else {
    r[0] = 1, r[1] = 0, r[2] = 0, u[0] = 0, u[1] = 1, u[2] = 0, f[0] = 0, f[1] = 0, f[2] = -1;
    e[0] = cx, e[1] = cy, e[2] = hi[2] + 1.0;
  }
  // project (image-plane coordinates a, b before fitting; depth z)
  const size_t nn = size_t(n);
  std::vector<float> pa(nn), pb(nn), pz(nn);
  double amin = 1e30, amax = -1e30, bmin = 1e30, bmax = -1e30, zmin = 1e30, zmax = -1e30;
  for (int64_t i = 0; i < n; ++i) {
    if (!vis(i)) continue;
    double p[3];
    for (int k = 0; k < 3; ++k) p[k] = xyz[i * 3 + k] - e[k];
    const double x = p[0] * r[0] + p[1] * r[1] + p[2] * r[2], y = p[0] * u[0] + p[1] * u[1] + p[2] * u[2];
    const double z = std::max(p[0] * f[0] + p[1] * f[1] + p[2] * f[2], 1e-3);
    const double a = persp ? x / z : x, b = persp ? y / z : y;
    pa[size_t(i)] = float(a), pb[size_t(i)] = float(b), pz[size_t(i)] = float(z);
    amin = std::min(amin, a), amax = std::max(amax, a), bmin = std::min(bmin, b), bmax = std::max(bmax, b);
    zmin = std::min(zmin, z), zmax = std::max(zmax, z);
  }
  const double margin = 0.05;
  const double scale = std::min(W * (1 - 2 * margin) / std::max(amax - amin, 1e-9), H * (1 - 2 * margin) / std::max(bmax - bmin, 1e-9));
  const double ox = W / 2.0 - scale * (amin + amax) / 2, oy = H / 2.0 + scale * (bmin + bmax) / 2;
  // splat radius from the on-screen point density (covered area / points), larger for near points
  const double area = (amax - amin) * (bmax - bmin) * scale * scale;
  const double base = std::clamp(1.25 * std::sqrt(area / double(nv)), 1.0, 6.0);
  const double zmid = (zmin + zmax) / 2;
  const double flat = 1.3 * base;  // top-down: every point at full size (no depth shrink), a little larger to close gaps
  std::vector<float> zbuf(size_t(W) * H, std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n; ++i) {
    if (!vis(i)) continue;
    const double px = ox + scale * pa[size_t(i)], py = oy - scale * pb[size_t(i)], z = pz[size_t(i)];
    const double rad = persp ? std::clamp(base * zmid / z, 0.6, 8.0) : flat;
    const double shade = 1.0 - 0.35 * (zmax > zmin ? (z - zmin) / (zmax - zmin) : 0.0);
    const Rgb c = colors[size_t(i)];
    const int x0 = int(std::floor(px - rad)), x1 = int(std::ceil(px + rad));
    const int y0 = int(std::floor(py - rad)), y1 = int(std::ceil(py + rad));
    for (int y = std::max(y0, 0); y <= std::min(y1, H - 1); ++y)
      for (int x = std::max(x0, 0); x <= std::min(x1, W - 1); ++x) {
        const double dx = x + 0.5 - px, dy = y + 0.5 - py;
        if (dx * dx + dy * dy > rad * rad && !(x == int(px) && y == int(py))) continue;
        float& zb = zbuf[size_t(y) * W + x];
        if (float(z) >= zb) continue;
        zb = float(z);
        uint8_t* o = out + (size_t(y) * W + x) * 3;
        o[0] = uint8_t(c.r * shade), o[1] = uint8_t(c.g * shade), o[2] = uint8_t(c.b * shade);
      }
  }
  return img;
}

}  // namespace leseg::train::report
