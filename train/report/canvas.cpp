// SPDX-License-Identifier: Apache-2.0
#include "train/report/canvas.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "io/formats/image.h"
#include "train/infer.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_easy_font.h>
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>
#pragma GCC diagnostic pop

namespace leseg::train::report {

Canvas::Canvas(int width, int height, Rgb bg, int supersample) : w_(width), h_(height), s_(supersample) {
  LESEG_CHECK(width > 0 && height > 0 && width <= 8192 && height <= 8192 && supersample >= 1 && supersample <= 8,
              "canvas: bad size ", width, "x", height, " (supersample ", supersample, ")");
  px_.resize(size_t(w_) * s_ * size_t(h_) * s_ * 3);
  for (size_t i = 0; i < px_.size(); i += 3) {
    px_[i] = bg.r;
    px_[i + 1] = bg.g;
    px_[i + 2] = bg.b;
  }
}

void Canvas::put(int X, int Y, Rgb c, double a) {
  if (X < 0 || Y < 0 || X >= w_ * s_ || Y >= h_ * s_) return;
  uint8_t* p = &px_[(size_t(Y) * size_t(w_ * s_) + size_t(X)) * 3];
  if (a >= 1.0) {
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
    return;
  }
  p[0] = uint8_t(std::lround(p[0] * (1 - a) + c.r * a));
  p[1] = uint8_t(std::lround(p[1] * (1 - a) + c.g * a));
  p[2] = uint8_t(std::lround(p[2] * (1 - a) + c.b * a));
}

void Canvas::fill_rect(double x0, double y0, double x1, double y1, Rgb c) {
  if (x0 > x1) std::swap(x0, x1);
  if (y0 > y1) std::swap(y0, y1);
  const int X0 = int(std::lround(x0 * s_)), X1 = int(std::lround(x1 * s_));
  const int Y0 = int(std::lround(y0 * s_)), Y1 = int(std::lround(y1 * s_));
  for (int Y = std::max(Y0, 0); Y < std::min(Y1, h_ * s_); ++Y)
    for (int X = std::max(X0, 0); X < std::min(X1, w_ * s_); ++X) put(X, Y, c, 1.0);
}

void Canvas::rect_outline(double x0, double y0, double x1, double y1, Rgb c, double lw) {
  line(x0, y0, x1, y0, c, lw);
  line(x1, y0, x1, y1, c, lw);
  line(x1, y1, x0, y1, c, lw);
  line(x0, y1, x0, y0, c, lw);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, double lw) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  const double S = s_, ax = x0 * S, ay = y0 * S, bx = x1 * S, by = y1 * S, r = std::max(lw, 0.5) * S / 2;
  const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  const int X0 = int(std::floor(std::min(ax, bx) - r)), X1 = int(std::ceil(std::max(ax, bx) + r));
  const int Y0 = int(std::floor(std::min(ay, by) - r)), Y1 = int(std::ceil(std::max(ay, by) + r));
  for (int Y = std::max(Y0, 0); Y <= std::min(Y1, h_ * s_ - 1); ++Y)
    for (int X = std::max(X0, 0); X <= std::min(X1, w_ * s_ - 1); ++X) {
      const double px = X + 0.5 - ax, py = Y + 0.5 - ay;
      const double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
      const double ex = px - t * dx, ey = py - t * dy;
      if (ex * ex + ey * ey <= r * r) put(X, Y, c, 1.0);
    }
}

void Canvas::polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgb c, double lw) {
  for (size_t i = 1; i < std::min(xs.size(), ys.size()); ++i) line(xs[i - 1], ys[i - 1], xs[i], ys[i], c, lw);
  if (xs.size() == 1 && !ys.empty()) disc(xs[0], ys[0], lw * 1.2, c);
}

void Canvas::disc(double x, double y, double r, Rgb c) { line(x, y, x, y, c, 2 * r); }

namespace {
// stb_easy_font quads: 16-byte vertices (x, y, z floats, 4 colour bytes), 4 per quad, axis-aligned.
std::vector<float> text_quads(const std::string& s) {
  std::vector<char> buf(s.size() * 300 + 64);
  std::string copy = s;
  for (char& ch : copy)
    if (static_cast<unsigned char>(ch) >= 127) ch = '?';
  const int nq = stb_easy_font_print(0, 0, copy.data(), nullptr, buf.data(), int(buf.size()));
  std::vector<float> out;  // x0, y0, x1, y1 per quad
  for (int q = 0; q < nq; ++q) {
    const float* v0 = reinterpret_cast<const float*>(buf.data() + size_t(q) * 64);
    const float* v2 = reinterpret_cast<const float*>(buf.data() + size_t(q) * 64 + 32);
    out.insert(out.end(), {v0[0], v0[1], v2[0], v2[1]});
  }
  return out;
}
constexpr double kFontCap = 7.0;  // stb_easy_font capital height in font units

// A TrueType font (DejaVu Sans from fonts-dejavu-core, or $LESEG_REPORT_FONT) rendered with stb_truetype;
// when none is readable, text falls back to stb_easy_font's built-in stroke font.
struct TrueType {
  std::string data;
  stbtt_fontinfo info{};
  bool ok = false;
  double cap_em = 0.73;  // cap height / em
  TrueType() {
    std::vector<std::string> paths;
    if (const char* e = std::getenv("LESEG_REPORT_FONT")) paths.emplace_back(e);
    paths.emplace_back("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
    for (const auto& p : paths) {
      std::ifstream f(p, std::ios::binary);
      if (!f.is_open()) continue;
      std::ostringstream ss;
      ss << f.rdbuf();
      data = ss.str();
      const auto* u = reinterpret_cast<const unsigned char*>(data.data());
      if (stbtt_InitFont(&info, u, stbtt_GetFontOffsetForIndex(u, 0))) {
        ok = true;
        int x0, y0, x1, y1;
        if (stbtt_GetCodepointBox(&info, 'H', &x0, &y0, &x1, &y1)) {
          const float em = stbtt_ScaleForMappingEmToPixels(&info, 1.0f);
          cap_em = double(y1) * em;
        }
        break;
      }
    }
  }
};
const TrueType& font() {
  static const TrueType f;
  return f;
}

// Coverage mask of a string rendered with cap height `cap` pixels: w x h bytes, baseline at row `base`.
struct Mask {
  int w = 0, h = 0, base = 0;
  std::vector<uint8_t> a;
};
Mask rasterize(const std::string& s, double cap) {
  const TrueType& f = font();
  Mask m;
  const float scale = stbtt_ScaleForMappingEmToPixels(&f.info, float(cap / f.cap_em));
  int asc, desc, gap;
  stbtt_GetFontVMetrics(&f.info, &asc, &desc, &gap);
  m.base = int(std::ceil(asc * scale));
  m.h = m.base + int(std::ceil(-desc * scale)) + 1;
  double width = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    int adv, lsb;
    stbtt_GetCodepointHMetrics(&f.info, static_cast<unsigned char>(s[i]), &adv, &lsb);
    width += adv * scale;
    if (i + 1 < s.size()) width += scale * stbtt_GetCodepointKernAdvance(&f.info, static_cast<unsigned char>(s[i]), static_cast<unsigned char>(s[i + 1]));
  }
  m.w = int(std::ceil(width)) + 2;
  m.a.assign(size_t(m.w) * m.h, 0);
  double x = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const int cp = static_cast<unsigned char>(s[i]);
    int adv, lsb, x0, y0, x1, y1;
    stbtt_GetCodepointHMetrics(&f.info, cp, &adv, &lsb);
    const float shift = float(x - std::floor(x));
    stbtt_GetCodepointBitmapBoxSubpixel(&f.info, cp, scale, scale, shift, 0, &x0, &y0, &x1, &y1);
    const int gw = x1 - x0, gh = y1 - y0;
    if (gw > 0 && gh > 0) {
      std::vector<uint8_t> g(size_t(gw) * gh);
      stbtt_MakeCodepointBitmapSubpixel(&f.info, g.data(), gw, gh, gw, scale, scale, shift, 0, cp);
      for (int yy = 0; yy < gh; ++yy)
        for (int xx = 0; xx < gw; ++xx) {
          const int X = int(std::floor(x)) + x0 + xx, Y = m.base + y0 + yy;
          if (X < 0 || Y < 0 || X >= m.w || Y >= m.h) continue;
          uint8_t& d = m.a[size_t(Y) * m.w + X];
          d = uint8_t(std::min(255, d + g[size_t(yy) * gw + xx]));
        }
    }
    x += adv * scale;
    if (i + 1 < s.size()) x += scale * stbtt_GetCodepointKernAdvance(&f.info, cp, static_cast<unsigned char>(s[i + 1]));
  }
  m.w = std::max(1, int(std::ceil(x)));
  return m;
}
}  // namespace

double Canvas::text_width(const std::string& s, double size) {
  if (font().ok) {
    const TrueType& f = font();
    const float scale = stbtt_ScaleForMappingEmToPixels(&f.info, float(size / f.cap_em));
    double w = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      int adv, lsb;
      stbtt_GetCodepointHMetrics(&f.info, static_cast<unsigned char>(s[i]), &adv, &lsb);
      w += adv * scale;
    }
    return w;
  }
  std::string copy = s;
  return stb_easy_font_width(copy.data()) * size / kFontCap;
}

void Canvas::text(double x, double y, const std::string& s, Rgb c, double size, Align a) {
  const double w = text_width(s, size);
  if (a == Align::Center) x -= w / 2;
  if (a == Align::Right) x -= w;
  if (font().ok) {
    const Mask m = rasterize(s, size * s_);
    // the cap top sits at y: baseline at y + size
    const int X0 = int(std::lround(x * s_)), Y0 = int(std::lround((y + size) * s_)) - m.base;
    for (int j = 0; j < m.h; ++j)
      for (int i = 0; i < m.w && i < int(m.a.size() / size_t(m.h)); ++i) {
        const uint8_t v = m.a[size_t(j) * (m.a.size() / size_t(m.h)) + i];
        if (v) put(X0 + i, Y0 + j, c, v / 255.0);
      }
    return;
  }
  const double k = size / kFontCap;
  const std::vector<float> q = text_quads(s);
  for (size_t i = 0; i + 3 < q.size(); i += 4) fill_rect(x + q[i] * k, y + q[i + 1] * k, x + q[i + 2] * k, y + q[i + 3] * k, c);
}

void Canvas::text_vertical(double x, double y, const std::string& s, Rgb c, double size) {
  const double w = text_width(s, size);
  if (font().ok) {
    const Mask m = rasterize(s, size * s_);
    const int stride = int(m.a.size() / size_t(m.h));
    // rotate 90° counter-clockwise: mask (i, j) -> (X0 + j, Y0 - i); text reads bottom to top
    const int X0 = int(std::lround(x * s_)), Y0 = int(std::lround((y + w / 2) * s_));
    for (int j = 0; j < m.h; ++j)
      for (int i = 0; i < m.w && i < stride; ++i) {
        const uint8_t v = m.a[size_t(j) * stride + i];
        if (v) put(X0 + j, Y0 - i, c, v / 255.0);
      }
    return;
  }
  const double k = size / kFontCap;
  const std::vector<float> q = text_quads(s);
  // rotate 90° counter-clockwise: font (u, v) -> (x + v, y + w/2 - u)
  for (size_t i = 0; i + 3 < q.size(); i += 4)
    fill_rect(x + q[i + 1] * k, y + w / 2 - q[i + 2] * k, x + q[i + 3] * k, y + w / 2 - q[i] * k, c);
}

void Canvas::image(double x, double y, double dw, double dh, const Tensor& rgb) {
  LESEG_CHECK(rgb.defined() && rgb.ndim() == 3 && rgb.size(2) == 3 && rgb.dtype() == DType::u8,
              "canvas: image must be (H, W, 3) u8");
  const int H = int(rgb.size(0)), W = int(rgb.size(1));
  const uint8_t* p = rgb.data<uint8_t>();
  const int X0 = int(std::lround(x * s_)), Y0 = int(std::lround(y * s_));
  const int DW = int(std::lround(dw * s_)), DH = int(std::lround(dh * s_));
  for (int j = 0; j < DH; ++j)
    for (int i = 0; i < DW; ++i) {
      const int sx = std::min(W - 1, int(int64_t(i) * W / DW)), sy = std::min(H - 1, int(int64_t(j) * H / DH));
      const uint8_t* q = p + (size_t(sy) * W + sx) * 3;
      put(X0 + i, Y0 + j, Rgb{q[0], q[1], q[2]}, 1.0);
    }
}

Tensor Canvas::to_image() const {
  Tensor out = Tensor::empty(Shape{h_, w_, 3}, DType::u8);
  uint8_t* o = out.data<uint8_t>();
  const int W = w_ * s_;
  for (int y = 0; y < h_; ++y)
    for (int x = 0; x < w_; ++x)
      for (int k = 0; k < 3; ++k) {
        int sum = 0;
        for (int j = 0; j < s_; ++j)
          for (int i = 0; i < s_; ++i) sum += px_[(size_t(y * s_ + j) * W + size_t(x * s_ + i)) * 3 + k];
        o[(size_t(y) * w_ + x) * 3 + k] = uint8_t((sum + s_ * s_ / 2) / (s_ * s_));
      }
  return out;
}

void Canvas::write_png(const std::string& path) const { io::write_png_rgb(path, to_image()); }

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LESEG_CHECK(f.is_open(), "cannot read '", path, "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += t[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += t[v >> 18], out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Rgb series_color(int i) {
  static const Rgb tab10[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return tab10[((i % 10) + 10) % 10];
}

Rgb class_rgb(int c) {
  uint8_t v[3];
  class_color(c, v);
  return {v[0], v[1], v[2]};
}

Rgb ramp(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  // white -> light blue -> dark blue
  const double r = 255 * (1 - t) + 8 * t, g = 255 * (1 - t) + 48 * t, b = 255 * (1 - 0.3 * t) + 107 * 0.0;
  return {uint8_t(std::lround(r)), uint8_t(std::lround(g)), uint8_t(std::lround(std::clamp(b, 0.0, 255.0)))};
}

}  // namespace leseg::train::report
