// SPDX-License-Identifier: Apache-2.0
// Procedural street scanned by a ring LiDAR with six surround cameras (see generator.h).
#include <algorithm>
#include <cmath>

#include "io/synthetic/classes.h"
#include "io/synthetic/generator.h"
#include "io/synthetic/primitives.h"
#include "io/synthetic/random.h"
#include "io/synthetic/scene_build.h"
#include "io/synthetic/text_embeddings.h"

namespace leseg::io::synth {

namespace {
namespace O = outdoor_class;
struct Street {
  Rng& rng;
  std::vector<Box> boxes;
  int32_t next_instance = 0;
  std::array<uint8_t, 3> color_for(int32_t label) {
    const ClassSpec& s = outdoor_classes()[size_t(label)];
    const int shift = rng.range(-s.color_spread, s.color_spread);
    std::array<uint8_t, 3> c;
    for (int a = 0; a < 3; ++a)
      c[size_t(a)] = uint8_t(std::clamp(int(s.color[size_t(a)]) + shift + rng.range(-s.color_spread / 3, s.color_spread / 3), 0, 255));
    return c;
  }
  int32_t add(int32_t label, std::vector<std::array<double, 7>> parts) {  // x0 y0 z0 x1 y1 z1 part
    const int32_t inst = next_instance++;
    const auto c = color_for(label);
    for (const auto& q : parts) {
      Box b;
      b.lo = {float(q[0]), float(q[1]), float(q[2])};
      b.hi = {float(q[3]), float(q[4]), float(q[5])};
      b.label = label; b.instance = inst; b.part = int(q[6]); b.rgb = c;
      b.unsampled_faces = 0x10;
      boxes.push_back(b);
    }
    return inst;
  }
};

double reflectivity(int32_t label) {
  static const double r[O::count] = {0.15, 0.25, 0.6, 0.35, 0.45, 0.3, 0.5, 0.3};
  return label >= 0 && label < O::count ? r[label] : 0.2;
}
}  // namespace

DatasetInfo outdoor_dataset_info(int text_dim, uint64_t seed) {
  DatasetInfo info;
  info.name = "synthetic_outdoor";
  info.classes = class_names(outdoor_classes());
  TextEmbeddingOptions t;
  t.dim = text_dim;
  info.text_embeddings = make_text_embeddings(outdoor_classes(), seed, t);
  return info;
}

Scene generate_outdoor_scene(uint64_t seed, const Tensor& text_embeddings, const OutdoorOptions& opt) {
  LESEG_CHECK(text_embeddings.defined() && text_embeddings.ndim() == 2 && text_embeddings.size(0) == O::count &&
                  text_embeddings.dtype() == DType::f32,
              "generate_outdoor_scene: text_embeddings must be (", int(O::count), ", D) f32");
  LESEG_CHECK(opt.beams >= 1 && opt.azimuth_steps >= 1 && opt.max_range > 1 && opt.height > 0 && opt.width > 0,
              "generate_outdoor_scene: bad options");
  Rng rng(seed, 0x0D00);
  Street st{rng, {}};
  const double L = 60.0, road = rng.uniform(3.0, 4.5), walk = rng.uniform(1.8, 3.0), terr = rng.uniform(4.0, 9.0);
  st.add(O::road, {{-L, -road, -0.2, L, road, 0.0, 0}});
  for (int s = -1; s <= 1; s += 2) {
    const double y0 = s > 0 ? road : -road - walk, y1 = s > 0 ? road + walk : -road;
    st.add(O::sidewalk, {{-L, y0, -0.2, L, y1, 0.15, 0}});
    const double t0 = s > 0 ? road + walk : -road - walk - terr, t1 = s > 0 ? road + walk + terr : -road - walk;
    st.add(O::terrain, {{-L, t0, -0.2, L, t1, 0.05, 0}});
    double x = -L;
    while (x < L) {  // buildings with gaps
      const double len = rng.uniform(8, 25), depth = rng.uniform(8, 15), h = rng.uniform(5, 20);
      const double b0 = s > 0 ? road + walk + terr : -road - walk - terr - depth, b1 = b0 + depth;
      st.add(O::building, {{x, b0, -0.2, std::min(L, x + len), b1, h, 0},
                           {x + 0.5, s > 0 ? b0 - 0.3 : b1, 0.0, std::min(L, x + len) - 0.5, s > 0 ? b0 : b1 + 0.3, 0.6, 1}});
      x += len + rng.uniform(1, 8);
    }
    for (double px = -L + rng.uniform(2, 10); px < L; px += rng.uniform(10, 22)) {  // poles at the kerb
      const double py = s > 0 ? road + 0.4 : -road - 0.4, h = rng.uniform(4, 7);
      st.add(O::pole, {{px - 0.08, py - 0.08, 0.15, px + 0.08, py + 0.08, h, 0},
                       {px - 0.05, s > 0 ? py - 1.2 : py, h - 0.15, px + 0.05, s > 0 ? py : py + 1.2, h, 1}});
    }
    for (int i = rng.range(1, 5); i > 0; --i) {  // people on the sidewalk
      const double px = rng.uniform(-L + 2, L - 2), py = s > 0 ? rng.uniform(y0 + 0.5, y1 - 0.5) : rng.uniform(y0 + 0.5, y1 - 0.5);
      if (std::fabs(px) < 2.5) continue;
      const double h = rng.uniform(1.55, 1.9);
      st.add(O::person, {{px - 0.18, py - 0.12, 0.15, px + 0.18, py + 0.12, 0.15 + 0.48 * h, 0},
                         {px - 0.22, py - 0.14, 0.15 + 0.48 * h, px + 0.22, py + 0.14, 0.15 + 0.86 * h, 1},
                         {px - 0.1, py - 0.1, 0.15 + 0.87 * h, px + 0.1, py + 0.1, 0.15 + h, 2}});
    }
    for (int i = rng.range(2, 8); i > 0; --i) {  // trees and bushes on the terrain
      const double px = rng.uniform(-L + 3, L - 3), py = rng.uniform(std::min(t0, t1) + 1, std::max(t0, t1) - 1);
      if (rng.chance(0.6)) {
        const double th = rng.uniform(1.5, 3.0), cr = rng.uniform(0.8, 2.0);
        st.add(O::vegetation, {{px - 0.15, py - 0.15, 0.05, px + 0.15, py + 0.15, th, 0},
                               {px - cr, py - cr, th, px + cr, py + cr, th + rng.uniform(1.5, 4.0), 1}});
      } else {
        const double r = rng.uniform(0.4, 1.2);
        st.add(O::vegetation, {{px - r, py - r * 0.7, 0.05, px + r, py + r * 0.7, rng.uniform(0.5, 1.5), 0}});
      }
    }
  }
  for (int i = rng.range(3, 10); i > 0; --i) {  // cars in the two lanes, away from the ego vehicle
    const double lane = rng.chance(0.5) ? road / 2 : -road / 2;
    const double px = rng.uniform(-L + 5, L - 5), len = rng.uniform(3.9, 4.9), w = rng.uniform(1.65, 1.95);
    if (std::fabs(px) < len / 2 + 3.5) continue;
    bool clash = false;
    for (const Box& b : st.boxes)
      if (b.label == O::car && std::fabs((b.lo[0] + b.hi[0]) / 2 - px) < len + 1 && std::fabs((b.lo[1] + b.hi[1]) / 2 - lane) < 1)
        clash = true;
    if (clash) continue;
    const double x0 = px - len / 2, x1 = px + len / 2, y0 = lane - w / 2, y1 = lane + w / 2;
    st.add(O::car, {{x0, y0, 0.3, x1, y1, 1.0, 0},
                    {x0 + 0.25 * len, y0 + 0.1, 1.0, x1 - 0.2 * len, y1 - 0.1, rng.uniform(1.4, 1.6), 1},
                    {x0 + 0.5, y0 - 0.02, 0.0, x0 + 1.1, y0 + 0.25, 0.62, 2},
                    {x1 - 1.1, y0 - 0.02, 0.0, x1 - 0.5, y0 + 0.25, 0.62, 2},
                    {x0 + 0.5, y1 - 0.25, 0.0, x0 + 1.1, y1 + 0.02, 0.62, 2},
                    {x1 - 1.1, y1 - 0.25, 0.0, x1 - 0.5, y1 + 0.02, 0.62, 2}});
  }
  SceneBuild sb;
  sb.name = "synthetic_outdoor_" + std::to_string(seed);
  sb.boxes = std::move(st.boxes);
  // Ring LiDAR at (0, 0, sensor_height).
  const double o[3] = {0, 0, opt.sensor_height};
  const double deg = 3.141592653589793 / 180.0;
  Rng noise(seed, 0x11DA4);
  for (int b = 0; b < opt.beams; ++b) {
    const double el = (opt.elevation_lo_deg + (opt.elevation_hi_deg - opt.elevation_lo_deg) * b / std::max(1, opt.beams - 1)) * deg;
    for (int j = 0; j < opt.azimuth_steps; ++j) {
      const double az = 2 * 3.141592653589793 * j / opt.azimuth_steps;
      const double d[3] = {std::cos(el) * std::cos(az), std::cos(el) * std::sin(az), std::sin(el)};
      double t;
      int face;
      const int hit = cast_ray(sb.boxes, o, d, opt.max_range, &t, &face);
      const double rn = noise.normal(), in = noise.normal();
      if (hit < 0) continue;
      const Box& bx = sb.boxes[size_t(hit)];
      const float p[3] = {float(o[0] + t * d[0]), float(o[1] + t * d[1]), float(o[2] + t * d[2])};
      const std::array<uint8_t, 3> c = surface_color(bx, face, p);
      const double tr = t + opt.range_noise * rn;
      const int ax = face / 2;
      const float sgn = (face % 2) ? 1.f : -1.f;
      for (int a = 0; a < 3; ++a) {
        sb.points.xyz.push_back(float(o[a] + tr * d[a]));
        sb.points.normal.push_back(a == ax ? sgn : 0.f);
        sb.points.rgb.push_back(c[size_t(a)]);
      }
      sb.points.label.push_back(bx.label);
      sb.points.instance.push_back(bx.instance);
      sb.points.intensity.push_back(float(std::clamp(reflectivity(bx.label) * (1.0 - 0.4 * t / opt.max_range) + 0.04 * in, 0.0, 1.0)));
    }
  }
  // Six surround cameras at the sensor, 60 degrees apart, horizontal field of view 70 degrees.
  const double fx = (opt.width / 2.0) / std::tan(35.0 * deg), cx = opt.width / 2.0 - 0.5, cy = opt.height / 2.0 - 0.5;
  for (int k = 0; k < 6; ++k)
    sb.cameras.push_back(yaw_camera({0.0, 0.0, opt.sensor_height - 0.2}, k * 60.0 * deg, -3.0 * deg, fx, fx, cx, cy,
                                    opt.height, opt.width));
  SceneBuildOptions bo;
  bo.rgbd = false;
  bo.geometric_segments = opt.geometric_segments;
  bo.stand_ins = opt.stand_ins;
  return build_scene(sb, text_embeddings, seed, bo);
}

}  // namespace leseg::io::synth
