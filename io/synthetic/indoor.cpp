// SPDX-License-Identifier: Apache-2.0
// Procedural indoor rooms (see generator.h). Furniture is built in a local frame [0, w] x [0, d] whose
// back side (y = d) goes against a wall, then rotated by a multiple of 90 degrees and placed.
#include <algorithm>
#include <cmath>

#include "io/geometry/oversegment.h"
#include "io/synthetic/classes.h"
#include "io/synthetic/generator.h"
#include "io/synthetic/primitives.h"
#include "io/synthetic/random.h"
#include "io/synthetic/scene_build.h"
#include "io/synthetic/text_embeddings.h"

namespace leseg::io::synth {

namespace {
namespace C = indoor_class;
constexpr uint8_t kAllButPlusZ = 0x1F, kNoBottom = 0x10;

struct Rect { double x0, y0, x1, y1; };
bool overlaps(const Rect& a, const Rect& b, double m) {
  return a.x0 < b.x1 + m && b.x0 < a.x1 + m && a.y0 < b.y1 + m && b.y0 < a.y1 + m;
}

struct Room {
  Room(Rng& r, double w, double d, double h) : rng(r), W(w), D(d), Ht(h) {}
  Rng& rng;
  double W, D, Ht;
  std::vector<Box> boxes;
  std::vector<Rect> used;
  std::vector<std::vector<std::pair<double, double>>> wall_used = std::vector<std::vector<std::pair<double, double>>>(4);
  int32_t next_instance = 0;

  std::array<uint8_t, 3> color_for(int32_t label) {
    if (label < 0) return {uint8_t(rng.range(40, 230)), uint8_t(rng.range(40, 230)), uint8_t(rng.range(40, 230))};
    const ClassSpec& s = indoor_classes()[size_t(label)];
    std::array<uint8_t, 3> c;
    const int shift = rng.range(-s.color_spread, s.color_spread);
    for (int a = 0; a < 3; ++a)
      c[size_t(a)] = uint8_t(std::clamp(int(s.color[size_t(a)]) + shift + rng.range(-s.color_spread / 3, s.color_spread / 3), 0, 255));
    return c;
  }

  // A piece: local boxes (lo, hi, part) in [0, w] x [0, d]; placed at (x, y) with rotation k.
  struct Local { std::array<float, 3> lo, hi; int part; int32_t label_override = -2; std::array<uint8_t, 3> rgb{}; bool own_rgb = false; };
  int32_t place(const std::vector<Local>& parts, int32_t label, double w, double d, double x, double y, int k,
                double z0 = 0.0) {
    const int32_t inst = next_instance++;
    const std::array<uint8_t, 3> base = color_for(label);
    for (const Local& l : parts) {
      Box b;
      double xs[2] = {l.lo[0], l.hi[0]}, ys[2] = {l.lo[1], l.hi[1]};
      double X[2], Y[2];
      for (int i = 0; i < 2; ++i) {
        double px = xs[i], py = ys[i];
        switch (k & 3) {
          case 0: X[i] = px; Y[i] = py; break;
          case 1: X[i] = d - py; Y[i] = px; break;
          case 2: X[i] = w - px; Y[i] = d - py; break;
          default: X[i] = py; Y[i] = w - px; break;
        }
      }
      b.lo = {float(x + std::min(X[0], X[1])), float(y + std::min(Y[0], Y[1])), float(z0 + l.lo[2])};
      b.hi = {float(x + std::max(X[0], X[1])), float(y + std::max(Y[0], Y[1])), float(z0 + l.hi[2])};
      b.label = l.label_override != -2 ? l.label_override : label;
      b.instance = inst;
      b.part = l.part;
      b.rgb = l.own_rgb ? l.rgb : base;
      if (l.lo[2] <= 0.0 && z0 <= 0.0) b.unsampled_faces = kNoBottom;
      boxes.push_back(b);
    }
    return inst;
  }

  // Finds a free footprint; against_wall puts the local back (y = d) on a random wall.
  bool find_spot(double w, double d, bool against_wall, double& x, double& y, int& k) {
    for (int attempt = 0; attempt < 60; ++attempt) {
      if (against_wall) {
        const int wall = rng.range(0, 3);
        k = wall == 0 ? 0 : wall == 1 ? 3 : wall == 2 ? 2 : 1;
        const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
        if (fw > W - 0.1 || fd > D - 0.1) continue;
        if (wall == 0) { x = rng.uniform(0.05, W - fw - 0.05); y = D - fd; }
        else if (wall == 1) { x = W - fw; y = rng.uniform(0.05, D - fd - 0.05); }
        else if (wall == 2) { x = rng.uniform(0.05, W - fw - 0.05); y = 0; }
        else { x = 0; y = rng.uniform(0.05, D - fd - 0.05); }
      } else {
        k = rng.range(0, 3);
        const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
        if (fw > W - 0.6 || fd > D - 0.6) continue;
        x = rng.uniform(0.3, W - fw - 0.3);
        y = rng.uniform(0.3, D - fd - 0.3);
      }
      const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
      Rect r{x, y, x + fw, y + fd};
      bool ok = true;
      for (const Rect& u : used) ok = ok && !overlaps(r, u, 0.08);
      if (ok) {
        used.push_back(r);
        return true;
      }
    }
    return false;
  }

  // ---- furniture in local frames ----
  static Local L(double x0, double y0, double z0, double x1, double y1, double z1, int part) {
    return Local{{float(x0), float(y0), float(z0)}, {float(x1), float(y1), float(z1)}, part};
  }
  std::vector<Local> legs(double w, double d, double h, double s) {
    return {L(0, 0, 0, s, s, h, 0), L(w - s, 0, 0, w, s, h, 0), L(0, d - s, 0, s, d, h, 0), L(w - s, d - s, 0, w, d, h, 0)};
  }
  void chair(bool wall) {
    const double w = rng.uniform(0.42, 0.55), d = w, sh = rng.uniform(0.42, 0.48);
    auto p = legs(w, d, sh, 0.04);
    p.push_back(L(0, 0, sh, w, d, sh + 0.05, 1));
    p.push_back(L(0, d - 0.05, sh + 0.05, w, d, sh + rng.uniform(0.4, 0.55), 2));
    double x, y; int k;
    if (find_spot(w, d, wall, x, y, k)) place(p, C::chair, w, d, x, y, k);
  }
  std::vector<Rect> surfaces;  // table-like tops for clutter: (rect) + height in tops_z
  std::vector<double> tops_z;
  void table(int32_t label, bool wall, double wmin, double wmax) {
    const double w = rng.uniform(wmin, wmax), d = rng.uniform(0.6, std::min(1.1, wmax)), h = rng.uniform(0.7, 0.77);
    std::vector<Local> p;
    if (label == C::desk) {
      p = {L(0, 0, 0, 0.03, d, h - 0.03, 0), L(w - 0.03, 0, 0, w, d, h - 0.03, 0)};
      if (rng.chance(0.5)) p.push_back(L(w - 0.45, 0.02, 0.1, w - 0.03, d - 0.02, h - 0.03, 2));  // drawer block
    } else {
      p = legs(w, d, h - 0.04, 0.05);
    }
    p.push_back(L(0, 0, h - 0.04, w, d, h, 1));
    double x, y; int k;
    if (!find_spot(w, d, wall, x, y, k)) return;
    place(p, label, w, d, x, y, k);
    const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
    surfaces.push_back({x, y, x + fw, y + fd});
    tops_z.push_back(h);
    const int nch = label == C::desk ? 1 : rng.range(0, label == C::table && w > 1.4 ? 6 : 3);
    for (int i = 0; i < nch; ++i) chair_near({x, y, x + fw, y + fd});
  }
  void chair_near(const Rect& t) {
    const double w = rng.uniform(0.42, 0.52), sh = rng.uniform(0.42, 0.48);
    for (int attempt = 0; attempt < 20; ++attempt) {
      const int side = rng.range(0, 3);
      double x, y; int k;
      if (side == 0) { x = rng.uniform(t.x0, std::max(t.x0, t.x1 - w)); y = t.y1 + 0.05; k = 0; }       // back away (+y)
      else if (side == 1) { x = rng.uniform(t.x0, std::max(t.x0, t.x1 - w)); y = t.y0 - w - 0.05; k = 2; }
      else if (side == 2) { x = t.x1 + 0.05; y = rng.uniform(t.y0, std::max(t.y0, t.y1 - w)); k = 3; }
      else { x = t.x0 - w - 0.05; y = rng.uniform(t.y0, std::max(t.y0, t.y1 - w)); k = 1; }
      Rect r{x, y, x + w, y + w};
      if (r.x0 < 0.05 || r.y0 < 0.05 || r.x1 > W - 0.05 || r.y1 > D - 0.05) continue;
      bool ok = true;
      for (const Rect& u : used) ok = ok && !overlaps(r, u, 0.02);
      if (!ok) continue;
      used.push_back(r);
      auto p = legs(w, w, sh, 0.04);
      p.push_back(L(0, 0, sh, w, w, sh + 0.05, 1));
      p.push_back(L(0, w - 0.05, sh + 0.05, w, w, sh + rng.uniform(0.4, 0.55), 2));
      place(p, C::chair, w, w, x, y, k);
      return;
    }
  }
  void bed() {
    const double w = rng.uniform(1.0, 1.9), d = rng.uniform(1.95, 2.15);
    std::vector<Local> p = {L(0, 0, 0, w, d, 0.3, 0), L(0.03, 0.03, 0.3, w - 0.03, d - 0.08, 0.55, 1),
                            L(0, d - 0.06, 0, w, d, rng.uniform(0.9, 1.2), 2)};
    double x, y; int k;
    if (!find_spot(w, d, true, x, y, k)) return;
    place(p, C::bed, w, d, x, y, k);
    const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
    surfaces.push_back({x + 0.1, y + 0.1, x + fw - 0.1, y + fd - 0.1});
    tops_z.push_back(0.55);
    for (int i = rng.range(0, 2); i > 0; --i) nightstand();
  }
  void nightstand() {
    const double w = rng.uniform(0.35, 0.55), d = rng.uniform(0.35, 0.5), h = rng.uniform(0.45, 0.65);
    double x, y; int k;
    if (find_spot(w, d, true, x, y, k)) place({L(0, 0, 0, w, d, h, 0), L(0.03, -0.02, 0.05, w - 0.03, 0, h - 0.05, 1)},
                                              C::other_furniture, w, d, x, y, k);
  }
  void sofa() {
    const double w = rng.uniform(1.5, 2.5), d = rng.uniform(0.8, 0.95);
    std::vector<Local> p = {L(0.18, 0, 0.05, w - 0.18, d, 0.42, 0), L(0, d - 0.22, 0.05, w, d, rng.uniform(0.75, 0.9), 1),
                            L(0, 0, 0.05, 0.18, d - 0.22, 0.62, 2), L(w - 0.18, 0, 0.05, w, d - 0.22, 0.62, 2),
                            L(0, 0, 0, w, d, 0.05, 3)};
    double x, y; int k;
    if (find_spot(w, d, rng.chance(0.7), x, y, k)) place(p, C::sofa, w, d, x, y, k);
  }
  void cabinet(double hmin, double hmax) {
    const double w = rng.uniform(0.45, 1.3), d = rng.uniform(0.4, 0.6), h = rng.uniform(hmin, hmax);
    std::vector<Local> p = {L(0, 0.02, 0, w, d, h, 0), L(0.02, 0, 0.05, w / 2 - 0.01, 0.02, h - 0.03, 1),
                            L(w / 2 + 0.01, 0, 0.05, w - 0.02, 0.02, h - 0.03, 2)};
    double x, y; int k;
    if (!find_spot(w, d, true, x, y, k)) return;
    place(p, C::cabinet, w, d, x, y, k);
    if (h < 1.2) {
      const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
      surfaces.push_back({x, y, x + fw, y + fd});
      tops_z.push_back(h);
    }
  }
  void bookshelf() {
    const double w = rng.uniform(0.7, 1.3), d = rng.uniform(0.28, 0.4), h = rng.uniform(1.4, 2.1);
    std::vector<Local> p = {L(0, 0, 0, 0.03, d, h, 0), L(w - 0.03, 0, 0, w, d, h, 0), L(0, d - 0.02, 0, w, d, h, 0),
                            L(0, 0, h - 0.03, w, d, h, 0)};
    const int shelves = rng.range(3, 5);
    for (int s = 0; s < shelves; ++s) {
      const double z = 0.05 + (h - 0.1) * s / shelves;
      p.push_back(L(0.03, 0, z, w - 0.03, d - 0.02, z + 0.025, 1));
      double bx = 0.05;  // books: own colours, still the bookshelf instance
      while (bx < w - 0.12 && rng.chance(0.9)) {
        const double bw = rng.uniform(0.02, 0.06), bh = rng.uniform(0.15, std::min(0.3, (h - 0.1) / shelves - 0.05));
        Local b = L(bx, 0.03, z + 0.025, bx + bw, d - 0.05, z + 0.025 + bh, 2);
        b.own_rgb = true;
        b.rgb = {uint8_t(rng.range(30, 220)), uint8_t(rng.range(30, 220)), uint8_t(rng.range(30, 220))};
        p.push_back(b);
        bx += bw + rng.uniform(0.0, 0.04);
      }
    }
    double x, y; int k;
    if (find_spot(w, d, true, x, y, k)) place(p, C::bookshelf, w, d, x, y, k);
  }
  void counter_with_sink(bool sink) {
    const double w = rng.uniform(1.2, std::min(3.0, std::max(W, D) - 0.3)), d = 0.62;
    std::vector<Local> p = {L(0, 0.03, 0, w, d, 0.86, 0), L(0, 0, 0.86, w, d, 0.9, 1)};
    double x, y; int k;
    if (!find_spot(w, d, true, x, y, k)) return;
    place(p, C::counter, w, d, x, y, k);
    if (sink) {
      const double sx = rng.uniform(0.1, w - 0.6);
      place({L(sx, 0.1, 0, sx + 0.5, 0.5, 0.03, 0), L(sx + 0.22, 0.45, 0.03, sx + 0.28, 0.5, 0.25, 1)}, C::sink, w, d, x, y, k, 0.9);
    }
    const double fw = (k & 1) ? d : w, fd = (k & 1) ? w : d;
    surfaces.push_back({x, y, x + fw, y + fd});
    tops_z.push_back(0.9);
  }
  void vanity() {
    const double w = rng.uniform(0.6, 1.0), d = 0.5;
    double x, y; int k;
    if (!find_spot(w, d, true, x, y, k)) return;
    place({L(0, 0.02, 0, w, d, 0.8, 0), L(0.02, 0, 0.05, w - 0.02, 0.02, 0.75, 1)}, C::cabinet, w, d, x, y, k);
    place({L(w / 2 - 0.22, 0.08, 0, w / 2 + 0.22, 0.42, 0.12, 0), L(w / 2 - 0.03, 0.42, 0.12, w / 2 + 0.03, 0.48, 0.3, 1)},
          C::sink, w, d, x, y, k, 0.8);
  }
  void refrigerator() {
    const double w = rng.uniform(0.6, 0.85), d = rng.uniform(0.65, 0.75), h = rng.uniform(1.6, 1.95);
    double x, y; int k;
    if (find_spot(w, d, true, x, y, k))
      place({L(0, 0.03, 0, w, d, h, 0), L(0, 0, 0.02, w, 0.03, h * 0.62, 1), L(0, 0, h * 0.63, w, 0.03, h - 0.02, 2)},
            C::refrigerator, w, d, x, y, k);
  }
  void toilet() {
    const double w = 0.4, d = 0.7;
    double x, y; int k;
    if (find_spot(w, d, true, x, y, k))
      place({L(0.02, 0, 0, w - 0.02, d - 0.18, 0.4, 0), L(0, d - 0.18, 0, w, d, 0.8, 1), L(0.02, 0, 0.4, w - 0.02, d - 0.2, 0.43, 2)},
            C::toilet, w, d, x, y, k);
  }
  void bathtub() {
    const double w = rng.uniform(1.4, 1.75), d = rng.uniform(0.7, 0.8), h = 0.55, t = 0.08;
    double x, y; int k;
    if (!find_spot(w, d, true, x, y, k)) return;
    place({L(0, 0, 0, w, t, h, 0), L(0, d - t, 0, w, d, h, 0), L(0, t, 0, t, d - t, h, 0), L(w - t, t, 0, w, d - t, h, 0),
           L(t, t, 0, w - t, d - t, 0.12, 1)},
          C::bathtub, w, d, x, y, k);
    if (rng.chance(0.7)) {
      const double cov = rng.uniform(0.4, 1.0);
      place({L(0, -0.05, 0, w * cov, -0.03, rng.uniform(1.3, 1.5), 0)}, C::shower_curtain, w, d, x, y, k, 0.6);
    }
  }
  void other_furniture() {
    const double w = rng.uniform(0.3, 0.9), d = rng.uniform(0.3, 0.7), h = rng.uniform(0.3, 1.1);
    double x, y; int k;
    if (find_spot(w, d, rng.chance(0.5), x, y, k))
      place({L(0, 0, 0, w, d, h, 0), L(0.05, 0.05, h, w - 0.05, d - 0.05, h + 0.03, 1)}, C::other_furniture, w, d, x, y, k);
  }
  void clutter(int n) {
    for (int i = 0; i < n; ++i) {
      const double s = rng.uniform(0.08, 0.35), t = rng.uniform(0.08, 0.35), h = rng.uniform(0.05, 0.4);
      if (!surfaces.empty() && rng.chance(0.7)) {
        const size_t j = rng.below(surfaces.size());
        const Rect& r = surfaces[j];
        if (r.x1 - r.x0 < s + 0.02 || r.y1 - r.y0 < t + 0.02) continue;
        const double x = rng.uniform(r.x0 + 0.01, r.x1 - s - 0.01), y = rng.uniform(r.y0 + 0.01, r.y1 - t - 0.01);
        place({L(0, 0, 0, s, t, h, 0)}, -1, s, t, x, y, 0, tops_z[j]);
      } else {
        double x, y; int k;
        if (find_spot(s, t, false, x, y, k)) place({L(0, 0, 0, s, t, h, 0)}, -1, s, t, x, y, k);
      }
    }
  }

  // ---- shell and wall-mounted objects ----
  void shell(bool ceiling) {
    const float T = 0.12f;
    auto wall = [&](std::array<float, 3> lo, std::array<float, 3> hi, int face) {
      Box b;
      b.lo = lo; b.hi = hi; b.label = C::wall; b.instance = next_instance++; b.part = 0;
      b.rgb = color_for(C::wall);
      b.unsampled_faces = uint8_t(0x3F & ~(1u << face));
      boxes.push_back(b);
    };
    const float w = float(W), d = float(D), h = float(Ht);
    wall({-T, d, 0}, {w + T, d + T, h}, 2);
    wall({w, -T, 0}, {w + T, d + T, h}, 0);
    wall({-T, -T, 0}, {w + T, 0, h}, 3);
    wall({-T, -T, 0}, {0, d + T, h}, 1);
    Box f;
    f.lo = {-T, -T, -0.1f}; f.hi = {w + T, d + T, 0}; f.label = C::floor; f.instance = next_instance++;
    f.rgb = color_for(C::floor); f.unsampled_faces = kAllButPlusZ;
    boxes.push_back(f);
    if (ceiling) {
      Box c;
      c.lo = {-T, -T, h}; c.hi = {w + T, d + T, h + 0.1f}; c.label = -1; c.instance = next_instance++;
      c.rgb = {235, 235, 235}; c.unsampled_faces = uint8_t(0x3F & ~(1u << 4));
      boxes.push_back(c);
    }
  }
  // An object on wall `wall` spanning [a, a + len] along it, [z0, z1] high, protruding `depth` metres.
  bool wall_slot(int wall, double len, double& a) {
    const double wl = (wall % 2 == 0) ? W : D;
    if (len > wl - 0.3) return false;
    for (int attempt = 0; attempt < 30; ++attempt) {
      a = rng.uniform(0.15, wl - len - 0.15);
      bool ok = true;
      for (auto& [u0, u1] : wall_used[size_t(wall)]) ok = ok && (a + len < u0 - 0.1 || a > u1 + 0.1);
      if (ok) {
        wall_used[size_t(wall)].push_back({a, a + len});
        return true;
      }
    }
    return false;
  }
  Box on_wall(int wall, double a0, double a1, double z0, double z1, double off0, double off1) {
    Box b;
    const float A0 = float(a0), A1 = float(a1), Z0 = float(z0), Z1 = float(z1);
    if (wall == 0) { b.lo = {A0, float(D - off1), Z0}; b.hi = {A1, float(D - off0), Z1}; }
    else if (wall == 1) { b.lo = {float(W - off1), A0, Z0}; b.hi = {float(W - off0), A1, Z1}; }
    else if (wall == 2) { b.lo = {A0, float(off0), Z0}; b.hi = {A1, float(off1), Z1}; }
    else { b.lo = {float(off0), A0, Z0}; b.hi = {float(off1), A1, Z1}; }
    return b;
  }
  void mounted(int32_t label, int wall, double a0, double a1, double z0, double z1, double off0, double off1, int part,
               int32_t inst, const std::array<uint8_t, 3>& rgb) {
    Box b = on_wall(wall, a0, a1, z0, z1, off0, off1);
    b.label = label; b.instance = inst; b.part = part; b.rgb = rgb;
    if (z0 <= 0) b.unsampled_faces = kNoBottom;
    boxes.push_back(b);
    const double x0 = b.lo[0], y0 = b.lo[1], x1 = b.hi[0], y1 = b.hi[1];
    if (label == C::door) used.push_back({x0 - 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5});  // keep doors free
    else if (z0 < 1.0) used.push_back({x0, y0, x1, y1});
  }
  void door() {
    const int wall = rng.range(0, 3);
    const double w = rng.uniform(0.8, 1.0);
    double a;
    if (!wall_slot(wall, w, a)) return;
    const int32_t inst = next_instance++;
    const auto c = color_for(C::door);
    const double h = rng.uniform(2.0, 2.1);
    mounted(C::door, wall, a, a + w, 0, h, 0, 0.04, 0, inst, c);
    mounted(C::door, wall, a + w - 0.15, a + w - 0.05, 1.0, 1.05, 0.04, 0.09, 1, inst, {200, 200, 200});
    mounted(C::door, wall, a - 0.05, a + w + 0.05, h, h + 0.06, 0, 0.05, 2, inst, c);
  }
  void window_with_curtains() {
    const int wall = rng.range(0, 3);
    const double w = rng.uniform(0.8, 1.8), z0 = rng.uniform(0.8, 1.0), z1 = std::min(Ht - 0.2, z0 + rng.uniform(1.0, 1.4));
    const bool curtains = rng.chance(0.5);
    const double cw = curtains ? rng.uniform(0.3, 0.55) : 0.0;
    double a;
    if (!wall_slot(wall, w + 2 * cw, a)) return;
    const int32_t inst = next_instance++;
    const auto c = color_for(C::window);
    mounted(C::window, wall, a + cw, a + cw + w, z0, z1, 0, 0.03, 0, inst, c);
    mounted(C::window, wall, a + cw + w / 2 - 0.03, a + cw + w / 2 + 0.03, z0, z1, 0.03, 0.05, 1, inst, {230, 230, 230});
    mounted(C::window, wall, a + cw - 0.05, a + cw + w + 0.05, z0 - 0.05, z0, 0, 0.12, 2, inst, {230, 230, 230});
    if (curtains) {
      const auto cc = color_for(C::curtain);
      const double top = std::min(Ht - 0.05, z1 + 0.15), bottom = rng.chance(0.5) ? 0.05 : z0 - 0.1;
      const double over = rng.uniform(0.0, 0.25) * w;
      mounted(C::curtain, wall, a, a + cw + over, bottom, top, 0.08, 0.13, 0, next_instance++, cc);
      mounted(C::curtain, wall, a + cw + w - over, a + 2 * cw + w, bottom, top, 0.08, 0.13, 0, next_instance++, cc);
    }
  }
  void picture() {
    const int wall = rng.range(0, 3);
    const double w = rng.uniform(0.3, 1.0), h = rng.uniform(0.25, 0.8), zc = rng.uniform(1.35, 1.7);
    double a;
    if (!wall_slot(wall, w, a)) return;
    const int32_t inst = next_instance++;
    mounted(C::picture, wall, a, a + w, zc - h / 2, zc + h / 2, 0, 0.03, 0, inst, color_for(C::picture));
    if (rng.chance(0.5))
      mounted(C::picture, wall, a + 0.04, a + w - 0.04, zc - h / 2 + 0.04, zc + h / 2 - 0.04, 0.03, 0.035, 1, inst,
              color_for(C::picture));
  }
};
}  // namespace

DatasetInfo indoor_dataset_info(int text_dim, uint64_t seed) {
  DatasetInfo info;
  info.name = "synthetic_indoor";
  info.classes = class_names(indoor_classes());
  TextEmbeddingOptions t;
  t.dim = text_dim;
  info.text_embeddings = make_text_embeddings(indoor_classes(), seed, t);
  return info;
}

Scene generate_indoor_scene(uint64_t seed, const Tensor& text_embeddings, const IndoorOptions& opt) {
  LESEG_CHECK(text_embeddings.defined() && text_embeddings.ndim() == 2 && text_embeddings.size(0) == C::count &&
                  text_embeddings.dtype() == DType::f32,
              "generate_indoor_scene: text_embeddings must be (", int(C::count), ", D) f32");
  LESEG_CHECK(opt.height > 0 && opt.width > 0 && opt.num_views >= 0 && opt.point_density > 0,
              "generate_indoor_scene: bad options");
  Rng rng(seed, 0x1AD00);
  const int type = rng.range(0, 5);  // 0 bedroom, 1 living, 2 office, 3 kitchen, 4 bathroom, 5 conference
  double W = rng.uniform(3.5, 8.0), D = rng.uniform(3.0, 7.0);
  if (type == 4) { W = rng.uniform(2.2, 3.6); D = rng.uniform(2.0, 3.2); }
  if (type == 5) { W = rng.uniform(5.0, 9.0); D = rng.uniform(4.0, 7.0); }
  Room room(rng, W, D, rng.uniform(2.4, 3.0));
  room.shell(opt.ceiling);
  for (int i = rng.range(1, 2); i > 0; --i) room.door();
  for (int i = rng.range(type == 4 ? 0 : 1, 3); i > 0; --i) room.window_with_curtains();
  for (int i = rng.range(0, type == 4 ? 1 : 3); i > 0; --i) room.picture();
  switch (type) {
    case 0:
      room.bed();
      for (int i = rng.range(0, 2); i > 0; --i) room.cabinet(0.8, 2.0);
      if (rng.chance(0.5)) room.table(C::desk, true, 0.9, 1.5);
      if (rng.chance(0.4)) room.bookshelf();
      if (rng.chance(0.3)) room.sofa();
      break;
    case 1:
      for (int i = rng.range(1, 2); i > 0; --i) room.sofa();
      for (int i = rng.range(1, 2); i > 0; --i) room.table(C::table, false, 0.6, 1.4);
      for (int i = rng.range(0, 2); i > 0; --i) room.bookshelf();
      for (int i = rng.range(0, 2); i > 0; --i) room.cabinet(0.5, 1.2);
      for (int i = rng.range(0, 3); i > 0; --i) room.chair(false);
      break;
    case 2:
      for (int i = rng.range(1, 3); i > 0; --i) room.table(C::desk, true, 1.0, 1.6);
      for (int i = rng.range(1, 2); i > 0; --i) room.bookshelf();
      for (int i = rng.range(1, 3); i > 0; --i) room.cabinet(0.7, 2.0);
      if (rng.chance(0.4)) room.table(C::table, false, 0.8, 1.4);
      break;
    case 3:
      room.counter_with_sink(true);
      if (rng.chance(0.5)) room.counter_with_sink(false);
      room.refrigerator();
      for (int i = rng.range(1, 3); i > 0; --i) room.cabinet(0.8, 2.1);
      room.table(C::table, false, 0.8, 1.5);
      break;
    case 4:
      room.toilet();
      room.vanity();
      if (rng.chance(0.7)) room.bathtub();
      if (rng.chance(0.3)) room.cabinet(0.6, 1.8);
      break;
    default:
      room.table(C::table, false, 1.8, 3.2);
      for (int i = rng.range(2, 6); i > 0; --i) room.chair(false);
      for (int i = rng.range(0, 2); i > 0; --i) room.cabinet(0.8, 1.6);
      break;
  }
  for (int i = rng.range(0, 3); i > 0; --i) room.other_furniture();
  room.clutter(int(std::lround(opt.clutter * rng.range(3, 12))));

  SceneBuild sb;
  sb.name = "synthetic_indoor_" + std::to_string(seed);
  sb.boxes = std::move(room.boxes);
  sample_surfaces(sb.boxes, opt.point_density, opt.position_noise, hash_combine(seed, 0x5A), sb.points);
  // Camera path: an ellipse around the room centre, looking across the room and slightly down.
  const double fx = 0.9 * opt.width, fy = fx, cx = opt.width / 2.0 - 0.5, cy = opt.height / 2.0 - 0.5;
  const double th0 = rng.uniform(0, 6.283185307179586);
  for (int v = 0; v < opt.num_views; ++v) {
    Camera cam{};
    for (int attempt = 0; attempt < 20; ++attempt) {
      const double th = th0 + 6.283185307179586 * v / std::max(1, opt.num_views) + rng.uniform(-0.2, 0.2);
      const double rad = 0.32 * (1.0 - 0.04 * attempt);
      std::array<double, 3> eye = {W / 2 + rad * W * std::cos(th), D / 2 + rad * D * std::sin(th), rng.uniform(1.3, 1.65)};
      const double tt = th + 3.141592653589793 + rng.uniform(-0.6, 0.6);
      std::array<double, 3> target = {W / 2 + 0.3 * W * std::cos(tt), D / 2 + 0.3 * D * std::sin(tt), rng.uniform(0.4, 0.9)};
      cam = look_at_camera(eye, target, fx, fy, cx, cy, opt.height, opt.width);
      const float e[3] = {float(eye[0]), float(eye[1]), float(eye[2])};
      if (!inside_any(sb.boxes, e, -0.15f)) break;
    }
    sb.cameras.push_back(cam);
  }
  SceneBuildOptions bo;
  bo.rgbd = true;
  bo.geometric_segments = opt.geometric_segments;
  bo.stand_ins = opt.stand_ins;
  return build_scene(sb, text_embeddings, seed, bo);
}

}  // namespace leseg::io::synth
