// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/primitives.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "io/synthetic/random.h"

namespace leseg::io::synth {

namespace {
void normalize3(double* v) {
  double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  for (int a = 0; a < 3; ++a) v[a] /= n;
}
void cross3(const double* a, const double* b, double* c) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}
Camera from_axes(const std::array<double, 3>& eye, const double* right, const double* down, const double* fwd,
                 double fx, double fy, double cx, double cy, int h, int w) {
  Camera c{fx, fy, cx, cy, h, w, {}};
  for (int r = 0; r < 3; ++r) {
    c.cam_to_world[size_t(4 * r + 0)] = right[r];
    c.cam_to_world[size_t(4 * r + 1)] = down[r];
    c.cam_to_world[size_t(4 * r + 2)] = fwd[r];
    c.cam_to_world[size_t(4 * r + 3)] = eye[size_t(r)];
  }
  c.cam_to_world[12] = c.cam_to_world[13] = c.cam_to_world[14] = 0;
  c.cam_to_world[15] = 1;
  return c;
}
}  // namespace

Camera look_at_camera(const std::array<double, 3>& eye, const std::array<double, 3>& target, double fx, double fy,
                      double cx, double cy, int height, int width) {
  double f[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
  normalize3(f);
  const double up[3] = {0, 0, 1};
  double r[3], d[3];
  cross3(f, up, r);
  normalize3(r);
  cross3(f, r, d);
  return from_axes(eye, r, d, f, fx, fy, cx, cy, height, width);
}

Camera yaw_camera(const std::array<double, 3>& eye, double yaw, double pitch, double fx, double fy, double cx,
                  double cy, int height, int width) {
  std::array<double, 3> t = {eye[0] + std::cos(yaw) * std::cos(pitch), eye[1] + std::sin(yaw) * std::cos(pitch),
                             eye[2] + std::sin(pitch)};
  return look_at_camera(eye, t, fx, fy, cx, cy, height, width);
}

bool inside_any(const std::vector<Box>& boxes, const float* p, float margin) {
  for (const Box& b : boxes)
    if (p[0] > b.lo[0] + margin && p[0] < b.hi[0] - margin && p[1] > b.lo[1] + margin && p[1] < b.hi[1] - margin &&
        p[2] > b.lo[2] + margin && p[2] < b.hi[2] - margin)
      return true;
  return false;
}

std::array<uint8_t, 3> surface_color(const Box& b, int face, const float* p) {
  static const double shade[6] = {0.86, 0.90, 0.82, 0.94, 0.70, 1.0};
  const int64_t qx = int64_t(std::floor(p[0] * 20.f)), qy = int64_t(std::floor(p[1] * 20.f)),
                qz = int64_t(std::floor(p[2] * 20.f));
  const uint64_t h = mix64(uint64_t(qx) * 0x9E3779B97F4A7C15ull ^ uint64_t(qy) * 0xC2B2AE3D27D4EB4Full ^
                           uint64_t(qz) * 0x165667B19E3779F9ull ^ uint64_t(b.instance + 7) * 0xD6E8FEB86659FD93ull);
  const double tex = double(h >> 11) * (1.0 / 9007199254740992.0) - 0.5;
  std::array<uint8_t, 3> c;
  for (int a = 0; a < 3; ++a) {
    double v = double(b.rgb[size_t(a)]) * shade[face] + 24.0 * tex;
    c[size_t(a)] = uint8_t(std::clamp(v, 0.0, 255.0));
  }
  return c;
}

namespace {
// A face point touching or inside another box is never seen (wall behind a picture, floor under a
// cabinet, counter under a sink): drop it, as a real scan would have no surface there.
constexpr float kHideMargin = 1e-3f;
bool hidden_by_other(const std::vector<Box>& boxes, const std::vector<size_t>& candidates, const float* p) {
  constexpr float e = kHideMargin;
  for (size_t i : candidates) {
    const Box& b = boxes[i];
    if (p[0] > b.lo[0] - e && p[0] < b.hi[0] + e && p[1] > b.lo[1] - e && p[1] < b.hi[1] + e && p[2] > b.lo[2] - e &&
        p[2] < b.hi[2] + e)
      return true;
  }
  return false;
}
// Boxes other than `self` that can hide a point of the closed rectangle [lo, hi] (a face): the same float
// comparisons as hidden_by_other at the rectangle's extremes, so a box left out fails the per-point test
// for every point of the face (points lie in [lo, hi]: they are floats rounded from uniform(lo, hi)).
void hiding_candidates(const std::vector<Box>& boxes, size_t self, const float* lo, const float* hi,
                       std::vector<size_t>& out) {
  constexpr float e = kHideMargin;
  out.clear();
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (i == self) continue;
    const Box& b = boxes[i];
    if (hi[0] > b.lo[0] - e && lo[0] < b.hi[0] + e && hi[1] > b.lo[1] - e && lo[1] < b.hi[1] + e &&
        hi[2] > b.lo[2] - e && lo[2] < b.hi[2] + e)
      out.push_back(i);
  }
}
}  // namespace

void sample_surfaces(const std::vector<Box>& boxes, double density, double noise, uint64_t seed, PointCloud& out) {
  std::vector<size_t> candidates;
  for (size_t bi = 0; bi < boxes.size(); ++bi) {
    const Box& b = boxes[bi];
    Rng rng(seed, 0x5A3F00000ull + bi);
    for (int f = 0; f < 6; ++f) {
      if (b.unsampled_faces & (1u << f)) continue;
      const int ax = f / 2;
      const int u = (ax + 1) % 3, v = (ax + 2) % 3;
      const double area = double(b.hi[size_t(u)] - b.lo[size_t(u)]) * double(b.hi[size_t(v)] - b.lo[size_t(v)]);
      const int64_t n = int64_t(area * density + rng.unit());
      float face_lo[3], face_hi[3];  // min / max per axis: also right for a box given with lo > hi
      for (int a = 0; a < 3; ++a) {
        face_lo[a] = std::min(b.lo[size_t(a)], b.hi[size_t(a)]);
        face_hi[a] = std::max(b.lo[size_t(a)], b.hi[size_t(a)]);
      }
      face_lo[ax] = face_hi[ax] = (f % 2) ? b.hi[size_t(ax)] : b.lo[size_t(ax)];
      hiding_candidates(boxes, bi, face_lo, face_hi, candidates);
      for (int64_t i = 0; i < n; ++i) {
        float p[3];
        p[ax] = (f % 2) ? b.hi[size_t(ax)] : b.lo[size_t(ax)];
        p[u] = float(rng.uniform(b.lo[size_t(u)], b.hi[size_t(u)]));
        p[v] = float(rng.uniform(b.lo[size_t(v)], b.hi[size_t(v)]));
        const double jitter = noise * rng.normal();
        if (hidden_by_other(boxes, candidates, p)) continue;
        std::array<uint8_t, 3> c = surface_color(b, f, p);
        const float sgn = (f % 2) ? 1.f : -1.f;
        p[ax] += float(sgn * jitter);
        for (int a = 0; a < 3; ++a) {
          out.xyz.push_back(p[a]);
          out.normal.push_back(a == ax ? sgn : 0.f);
          out.rgb.push_back(uint8_t(std::clamp(int(c[size_t(a)]) + int(rng.below(13)) - 6, 0, 255)));
        }
        out.label.push_back(b.label);
        out.instance.push_back(b.instance);
      }
    }
  }
}

int cast_ray(const std::vector<Box>& boxes, const double* o, const double* d, double tmax, double* t_out, int* face) {
  int best = -1, best_face = 0;
  double best_t = tmax;
  // Per-ray constants (the same values the slab test used to recompute for every box).
  const bool flat[3] = {std::fabs(d[0]) < 1e-12, std::fabs(d[1]) < 1e-12, std::fabs(d[2]) < 1e-12};
  const double inv_d[3] = {flat[0] ? 0.0 : 1.0 / d[0], flat[1] ? 0.0 : 1.0 / d[1], flat[2] ? 0.0 : 1.0 / d[2]};
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box& b = boxes[i];
    double t0 = 1e-6, t1 = best_t;
    int f0 = -1;
    bool miss = false;
    for (int a = 0; a < 3 && !miss; ++a) {
      if (flat[a]) {
        if (o[a] < b.lo[size_t(a)] || o[a] > b.hi[size_t(a)]) miss = true;
        continue;
      }
      const double inv = inv_d[a];
      double ta = (b.lo[size_t(a)] - o[a]) * inv, tb = (b.hi[size_t(a)] - o[a]) * inv;
      int fa = 2 * a, fb = 2 * a + 1;
      if (ta > tb) {
        std::swap(ta, tb);
        std::swap(fa, fb);
      }
      if (ta > t0) {
        t0 = ta;
        f0 = fa;
      }
      if (tb < t1) t1 = tb;
      if (t0 > t1) miss = true;
    }
    if (miss || f0 < 0) continue;  // f0 < 0: origin inside the box (never visible from there)
    if (t0 < best_t) {
      best_t = t0;
      best = int(i);
      best_face = f0;
    }
  }
  *t_out = best_t;
  *face = best_face;
  return best;
}

RenderedView render(const std::vector<Box>& boxes, const Camera& cam, uint64_t seed) {
  const int H = cam.height, W = cam.width;
  RenderedView r;
  r.depth.assign(size_t(H) * W, 0.f);
  r.rgb.assign(size_t(H) * W * 3, 0);
  r.label.assign(size_t(H) * W, -1);
  r.instance.assign(size_t(H) * W, -1);
  r.part.assign(size_t(H) * W, -1);
  const auto& M = cam.cam_to_world;
  const double o[3] = {M[3], M[7], M[11]};
  // Image-space culling: each box's pixel bounding rectangle (whole image when it straddles the camera
  // plane); a ray only tests the boxes of its 16x16 tile.
  constexpr int T = 16;
  const int tw = (W + T - 1) / T, th = (H + T - 1) / T;
  std::vector<std::vector<int>> tiles(size_t(tw * th));
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box& b = boxes[i];
    double umin = 1e30, umax = -1e30, vmin = 1e30, vmax = -1e30;
    bool straddle = false, all_behind = true;
    for (int c = 0; c < 8; ++c) {
      const double p[3] = {(c & 1) ? b.hi[0] : b.lo[0], (c & 2) ? b.hi[1] : b.lo[1], (c & 4) ? b.hi[2] : b.lo[2]};
      double X[3];
      for (int a = 0; a < 3; ++a)
        X[a] = M[size_t(a)] * (p[0] - o[0]) + M[size_t(4 + a)] * (p[1] - o[1]) + M[size_t(8 + a)] * (p[2] - o[2]);
      if (X[2] <= 1e-3) {
        straddle = true;
        continue;
      }
      all_behind = false;
      const double u = cam.fx * X[0] / X[2] + cam.cx, v = cam.fy * X[1] / X[2] + cam.cy;
      umin = std::min(umin, u); umax = std::max(umax, u);
      vmin = std::min(vmin, v); vmax = std::max(vmax, v);
    }
    if (all_behind) continue;
    int tx0 = 0, tx1 = tw - 1, ty0 = 0, ty1 = th - 1;
    if (!straddle) {
      if (umax < -1 || vmax < -1 || umin > W || vmin > H) continue;
      tx0 = std::max(0, int(std::floor((umin - 1) / T))); tx1 = std::min(tw - 1, int(std::floor((umax + 1) / T)));
      ty0 = std::max(0, int(std::floor((vmin - 1) / T))); ty1 = std::min(th - 1, int(std::floor((vmax + 1) / T)));
    }
    for (int ty = ty0; ty <= ty1; ++ty)
      for (int tx = tx0; tx <= tx1; ++tx) tiles[size_t(ty * tw + tx)].push_back(int(i));
  }
  (void)seed;
#pragma omp parallel for schedule(dynamic, 4)
  for (int v = 0; v < H; ++v) {
    std::vector<Box> cand;
    int cand_tile = -1;
    for (int u = 0; u < W; ++u) {
      const int tile = (v / T) * tw + u / T;
      if (tile != cand_tile) {
        cand.clear();
        for (int i : tiles[size_t(tile)]) cand.push_back(boxes[size_t(i)]);
        cand_tile = tile;
      }
      const double dc[3] = {(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0};
      double d[3];
      for (int a = 0; a < 3; ++a) d[a] = M[size_t(4 * a)] * dc[0] + M[size_t(4 * a + 1)] * dc[1] + M[size_t(4 * a + 2)] * dc[2];
      double t;
      int face;
      const int hit = cast_ray(cand, o, d, 1e4, &t, &face);
      if (hit < 0) continue;
      const Box& b = cand[size_t(hit)];
      const size_t px = size_t(v) * W + u;
      r.depth[px] = float(t);  // d has unit z in camera coordinates: t is the depth
      const float p[3] = {float(o[0] + t * d[0]), float(o[1] + t * d[1]), float(o[2] + t * d[2])};
      std::array<uint8_t, 3> c = surface_color(b, face, p);
      for (int a = 0; a < 3; ++a) r.rgb[3 * px + size_t(a)] = c[size_t(a)];
      r.label[px] = b.label;
      r.instance[px] = b.instance;
      r.part[px] = b.part;
    }
  }
  return r;
}

}  // namespace leseg::io::synth
