// SPDX-License-Identifier: Apache-2.0
#include "train/report/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace leseg::train::report {

namespace {

std::string fmt_tick(double v, double step) {
  char buf[32];
  const double a = std::fabs(v);
  if (v == 0) return "0";
  if (a >= 1e5 || a < 1e-3) std::snprintf(buf, sizeof buf, "%.1e", v);
  else if (step >= 1) std::snprintf(buf, sizeof buf, "%.0f", v);
  else if (step >= 0.1) std::snprintf(buf, sizeof buf, "%.1f", v);
  else if (step >= 0.01) std::snprintf(buf, sizeof buf, "%.2f", v);
  else std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string fit(const std::string& s, double max_w, double size) {
  if (Canvas::text_width(s, size) <= max_w) return s;
  std::string t = s;
  while (t.size() > 1 && Canvas::text_width(t + "..", size) > max_w) t.pop_back();
  return t + "..";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int n) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(n, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

Canvas draw_line_chart(const LineChart& ch) {
  // legend below the plot, entries wrapped into rows
  const bool legend = ch.series.size() > 1 || (ch.series.size() == 1 && !ch.series[0].name.empty());
  std::vector<std::pair<double, double>> at;  // legend entry positions (x, row)
  int rows = 0;
  if (legend) {
    double x = 62;
    rows = 1;
    for (const auto& s : ch.series) {
      const double w = 26 + Canvas::text_width(fit(s.name, 240, 8), 8) + 14;
      if (x + w > ch.width - 10 && x > 62) x = 62, ++rows;
      at.push_back({x, double(rows - 1)});
      x += w;
    }
  }
  Canvas c(ch.width, ch.height + rows * 15);
  const double L = 62, R = ch.width - 14.0, T = 30, B = ch.height - 40.0;
  c.text(ch.width / 2.0, 8, ch.title, kBlack, 10, Align::Center);
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  auto ty = [&](double y) { return ch.log_y ? std::log10(y) : ch.percent ? 100.0 * y : y; };
  for (const auto& s : ch.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (ch.log_y && s.y[i] <= 0)) continue;
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      ylo = std::min(ylo, ty(s.y[i])), yhi = std::max(yhi, ty(s.y[i]));
    }
  c.rect_outline(L, T, R, B, kGrey, 1);
  if (!std::isfinite(xlo)) {
    c.text((L + R) / 2, (T + B) / 2 - 5, "no data", kGrey, 10, Align::Center);
    return c;
  }
  if (xhi - xlo < 1e-12) xlo -= 0.5, xhi += 0.5;
  if (yhi - ylo < 1e-12) {
    const double d = std::max(std::fabs(yhi) * 0.05, 1e-3);
    ylo -= d, yhi += d;
  }
  const double pad = 0.05 * (yhi - ylo);
  ylo -= pad, yhi += pad;
  if (ch.percent) ylo = std::max(ylo, 0.0), yhi = std::min(yhi, 100.0 + pad);
  auto X = [&](double x) { return L + (x - xlo) / (xhi - xlo) * (R - L); };
  auto Y = [&](double y) { return B - (y - ylo) / (yhi - ylo) * (B - T); };
  // grid + ticks
  for (double v : nice_ticks(ylo, yhi)) {
    if (v < ylo || v > yhi) continue;
    c.line(L, Y(v), R, Y(v), kLightGrey, 1);
    const std::string lab = ch.log_y ? fmt_tick(std::pow(10.0, v), std::pow(10.0, v) / 10) : fmt_tick(v, nice_ticks(ylo, yhi)[1] - nice_ticks(ylo, yhi)[0]);
    c.text(L - 5, Y(v) - 4, lab, kBlack, 7, Align::Right);
  }
  const auto xt = nice_ticks(xlo, xhi, 6);
  for (double v : xt) {
    if (v < xlo || v > xhi) continue;
    c.line(X(v), B, X(v), B + 4, kGrey, 1);
    c.text(X(v), B + 7, fmt_tick(v, xt.size() > 1 ? xt[1] - xt[0] : 1), kBlack, 7, Align::Center);
  }
  c.rect_outline(L, T, R, B, kGrey, 1);
  c.text((L + R) / 2, B + 22, ch.xlabel, kBlack, 8, Align::Center);
  c.text_vertical(10, (T + B) / 2, ch.ylabel + (ch.log_y ? " (log)" : ch.percent ? " (%)" : ""), kBlack, 8);
  // series
  for (size_t k = 0; k < ch.series.size(); ++k) {
    const Series& s = ch.series[k];
    const Rgb col = series_color(int(k));
    std::vector<double> xs, ys;
    auto flush = [&] {
      if (s.dashed) {
        for (size_t i = 1; i < xs.size(); ++i)
          if (i % 2) c.line(xs[i - 1], ys[i - 1], xs[i], ys[i], col, 1.5);
      } else {
        c.polyline(xs, ys, col, 1.6);
      }
      xs.clear(), ys.clear();
    };
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]) || (ch.log_y && s.y[i] <= 0)) {
        flush();
        continue;
      }
      xs.push_back(X(s.x[i]));
      ys.push_back(Y(ty(s.y[i])));
      if (s.markers) c.disc(xs.back(), ys.back(), 2.6, col);
    }
    flush();
  }
  for (size_t k = 0; k < at.size(); ++k) {
    const double x = at[k].first, y = ch.height - 2 + 15 * at[k].second;
    c.line(x, y + 4, x + 20, y + 4, series_color(int(k)), 2.2);
    c.text(x + 25, y, fit(ch.series[k].name, 240, 8), kBlack, 8);
  }
  return c;
}

Canvas draw_bar_chart(const BarChart& ch) {
  const size_t C = ch.categories.size(), G = std::max<size_t>(ch.values.size(), 1);
  const double row = std::max(12.0, 6.0 * double(G) + 6), label_w = 110, T = 30;
  const double legend_h = ch.groups.size() > 1 ? 14.0 * double(ch.groups.size()) + 6 : 0;
  const int height = int(T + row * double(C) + 34 + legend_h);
  Canvas c(ch.width, height);
  c.text(ch.width / 2.0, 8, ch.title, kBlack, 10, Align::Center);
  const double L = label_w, R = ch.width - 44.0, B = T + row * double(C);
  double vmax = ch.percent ? 100.0 : 0.0;
  if (!ch.percent)
    for (const auto& g : ch.values)
      for (double v : g)
        if (std::isfinite(v)) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  for (double v : nice_ticks(0, vmax, 5)) {
    const double x = L + v / vmax * (R - L);
    c.line(x, T, x, B, kLightGrey, 1);
    c.text(x, B + 5, fmt_tick(v, vmax / 5), kBlack, 7, Align::Center);
  }
  c.text((L + R) / 2, B + 18, ch.percent ? "IoU (%)" : "value", kBlack, 8, Align::Center);
  for (size_t k = 0; k < C; ++k) {
    const double y0 = T + row * double(k);
    c.text(L - 6, y0 + row / 2 - 4, fit(ch.categories[k], label_w - 10, 8), kBlack, 8, Align::Right);
    const double bh = (row - 4) / double(G);
    for (size_t g = 0; g < ch.values.size(); ++g) {
      const double v = k < ch.values[g].size() ? ch.values[g][k] : std::nan("");
      const double yb = y0 + 2 + bh * double(g);
      const Rgb col = G > 1 ? series_color(int(g)) : class_rgb(int(k));
      if (!std::isfinite(v)) {
        c.text(L + 3, yb + bh / 2 - 3, "n/a", kGrey, 6);
        continue;
      }
      const double vv = ch.percent ? 100.0 * v : v;
      c.fill_rect(L, yb, L + std::clamp(vv / vmax, 0.0, 1.0) * (R - L), yb + bh - 1, col);
      if (G <= 2) {
        char buf[32];
        std::snprintf(buf, sizeof buf, ch.percent ? "%.1f" : "%.3g", vv);
        c.text(L + std::clamp(vv / vmax, 0.0, 1.0) * (R - L) + 3, yb + bh / 2 - 3, buf, kBlack, 6.5);
      }
    }
  }
  c.line(L, T, L, B, kGrey, 1);
  if (ch.groups.size() > 1)
    for (size_t g = 0; g < ch.groups.size(); ++g) {
      const double yy = B + 34 + 14.0 * double(g);
      c.fill_rect(L, yy, L + 14, yy + 9, series_color(int(g)));
      c.text(L + 20, yy + 1, fit(ch.groups[g], ch.width - L - 30, 8), kBlack, 8);
    }
  return c;
}

Canvas draw_confusion(const std::string& title, const std::vector<std::string>& classes, const std::vector<int64_t>& m) {
  const size_t C = classes.size();
  const double cell = C <= 12 ? 30 : C <= 20 ? 22 : 14, label_w = 120, T = 54;
  const int w = int(label_w + cell * double(C) + 20), h = int(T + cell * double(C) + 40);
  Canvas c(std::max(w, 300), h);
  c.text(c.width() / 2.0, 8, title, kBlack, 10, Align::Center);
  c.text(label_w + cell * double(C) / 2, 25, "predicted class (column numbers = row numbers)", kGrey, 7, Align::Center);
  for (size_t i = 0; i < C; ++i) {
    double rs = 0;
    for (size_t j = 0; j < C; ++j) rs += double(m[i * C + j]);
    c.text(label_w - 6, T + cell * double(i) + cell / 2 - 4, fit(std::to_string(i) + " " + classes[i], label_w - 10, 8),
           kBlack, 8, Align::Right);
    c.text(label_w + cell * (double(i) + 0.5), T - 12, std::to_string(i), kBlack, 7, Align::Center);
    for (size_t j = 0; j < C; ++j) {
      const double v = rs > 0 ? double(m[i * C + j]) / rs : std::nan("");
      const double x0 = label_w + cell * double(j), y0 = T + cell * double(i);
      c.fill_rect(x0, y0, x0 + cell - 1, y0 + cell - 1, std::isfinite(v) ? ramp(v) : kLightGrey);
      if (std::isfinite(v) && cell >= 20 && v >= 0.005) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%d", int(std::lround(100 * v)));
        c.text(x0 + cell / 2, y0 + cell / 2 - 3.5, buf, v > 0.5 ? kWhite : kBlack, 6.5, Align::Center);
      }
      if (i == j) c.rect_outline(x0, y0, x0 + cell - 1, y0 + cell - 1, Rgb{40, 40, 40}, 1);
    }
  }
  c.text(label_w + cell * double(C) / 2, T + cell * double(C) + 8,
         "rows: ground truth, normalised to 100%; grey = class absent", kGrey, 7, Align::Center);
  return c;
}

}  // namespace leseg::train::report
