// SPDX-License-Identifier: Apache-2.0
// A small raster canvas for report figures: filled rectangles, antialiased thick lines and discs, and text
// (stb_easy_font's public-domain stroke font), drawn at `supersample`× resolution and box-filtered down on
// export, so edges and text come out smooth. Exported as an (H, W, 3) u8 tensor or a PNG file / PNG bytes
// through io/formats/image (the PNG writer leseg already links). Coordinates are logical pixels, origin top-left.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace leseg::train::report {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};
constexpr Rgb kWhite{255, 255, 255}, kBlack{0, 0, 0}, kGrey{128, 128, 128}, kLightGrey{225, 225, 225},
    kRed{220, 30, 30};

enum class Align { Left, Center, Right };

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite, int supersample = 3);
  int width() const { return w_; }
  int height() const { return h_; }

  void fill_rect(double x0, double y0, double x1, double y1, Rgb c);
  void rect_outline(double x0, double y0, double x1, double y1, Rgb c, double lw = 1.0);
  void line(double x0, double y0, double x1, double y1, Rgb c, double lw = 1.5);
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgb c, double lw = 1.5);
  void disc(double x, double y, double r, Rgb c);
  // Text whose top-left (Left), top-centre or top-right corner is (x, y); size = cap height in pixels (about).
  void text(double x, double y, const std::string& s, Rgb c, double size = 9.0, Align a = Align::Left);
  // Text drawn bottom-to-top (a y-axis label); (x, y) = the centre of the rotated text box's left edge.
  void text_vertical(double x, double y, const std::string& s, Rgb c, double size = 9.0);
  static double text_width(const std::string& s, double size = 9.0);
  // Blits an (h, w, 3) u8 image with its top-left corner at (x, y), scaled to dw x dh (nearest).
  void image(double x, double y, double dw, double dh, const Tensor& rgb);

  Tensor to_image() const;  // (H, W, 3) u8, box-filtered to logical size
  void write_png(const std::string& path) const;

 private:
  void put(int X, int Y, Rgb c, double alpha);  // supersampled coordinates
  int w_, h_, s_;
  std::vector<uint8_t> px_;  // (h*s, w*s, 3)
};

// Reads a whole file into a string (binary); error names the file.
std::string read_file_bytes(const std::string& path);
std::string base64(const std::string& bytes);

// Categorical colours: tab10 for series, class colours shared with `leseg infer` (train/infer.h).
Rgb series_color(int i);
Rgb class_rgb(int c);
// Blue-white-ish sequential ramp for t in [0, 1] (confusion matrix).
Rgb ramp(double t);

}  // namespace leseg::train::report
