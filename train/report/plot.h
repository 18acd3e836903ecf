// SPDX-License-Identifier: Apache-2.0
// Report figures drawn on a Canvas: line charts (several named series, e.g. one per run or per loss term),
// grouped horizontal bar charts (per-class IoU of one or several runs) and a row-normalised confusion-matrix
// heat-map with class names. Non-finite values are skipped; an empty chart says "no data" instead of failing.
#pragma once
#include <string>
#include <vector>

#include "train/report/canvas.h"

namespace leseg::train::report {

struct Series {
  std::string name;
  std::vector<double> x, y;
  bool dashed = false;
  bool markers = false;  // a dot on every point (sparse series such as evaluations)
};

struct LineChart {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool log_y = false;
  bool percent = false;  // y in [0, 1] shown as 0..100
  int width = 560, height = 330;
};
Canvas draw_line_chart(const LineChart& chart);

struct BarChart {
  std::string title;
  std::vector<std::string> categories;            // one row per category (class)
  std::vector<std::string> groups;                // one bar per group within a row (runs)
  std::vector<std::vector<double>> values;        // [group][category], NaN = n/a; shown as percent when percent
  bool percent = true;
  int width = 560;
};
Canvas draw_bar_chart(const BarChart& chart);

// counts: C x C, row = ground truth, column = prediction; each row normalised to sum 1.
Canvas draw_confusion(const std::string& title, const std::vector<std::string>& classes,
                      const std::vector<int64_t>& counts);

// "Nice" axis ticks covering [lo, hi] (about `n` of them).
std::vector<double> nice_ticks(double lo, double hi, int n = 5);

}  // namespace leseg::train::report
