// SPDX-License-Identifier: Apache-2.0
// A small software point rasteriser for report figures: points splatted as discs into a z-buffer, nearest
// wins, disc radius shrinking with depth (perspective) and colours darkened with depth so the shape reads on
// a flat image. Two fixed viewpoints: Oblique (perspective, from 35° above the horizon at azimuth 225°, i.e.
// from the -x/-y corner) and Top (orthographic, looking down -z). The view is fitted to the visible points.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "train/report/canvas.h"

namespace leseg::train::report {

enum class Viewpoint { Oblique, Top };

// xyz: n x 3 floats; colors: n; visible: n flags (empty = all). Returns (h, w, 3) u8 on a white background.
Tensor render_points(const float* xyz, int64_t n, const std::vector<Rgb>& colors, const std::vector<uint8_t>& visible,
                     Viewpoint vp, int width, int height);

}  // namespace leseg::train::report
