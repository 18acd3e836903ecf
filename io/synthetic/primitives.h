// SPDX-License-Identifier: Apache-2.0
// The synthetic worlds are unions of axis-aligned boxes, each carrying a class label, an instance id and
// a part id (SAM-like masks split instances along parts). This file samples coloured points with normals
// on the visible box faces, and ray-casts pinhole cameras (RGB, depth, label, instance, part images) and
// LiDAR beams against the same boxes, so that images, depth and points agree exactly.
// Colour of a surface point = instance colour * face shade + a position-hashed texture (5 cm cells),
// identical for the points and for the pixels that see them.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace leseg::io::synth {

struct Box {
  std::array<float, 3> lo{}, hi{};
  int32_t label = -1, instance = -1, part = 0;
  std::array<uint8_t, 3> rgb{};
  uint8_t unsampled_faces = 0;  // bit f (0:-x 1:+x 2:-y 3:+y 4:-z 5:+z): no points sampled on face f
};

struct Camera {
  double fx, fy, cx, cy;
  int height, width;
  std::array<double, 16> cam_to_world;  // row-major 4x4, OpenCV axes (x right, y down, z forward)
};

struct RenderedView {
  std::vector<float> depth;      // (H*W) metres along the optical axis, 0 = no hit
  std::vector<uint8_t> rgb;      // (H*W*3)
  std::vector<int32_t> label, instance, part;  // (H*W), -1 where nothing is hit
};

struct PointCloud {
  std::vector<float> xyz, normal;  // (N*3)
  std::vector<uint8_t> rgb;        // (N*3)
  std::vector<int32_t> label, instance;
  std::vector<float> intensity;    // LiDAR only
};

// Camera looking from `eye` at `target` with +z up.
Camera look_at_camera(const std::array<double, 3>& eye, const std::array<double, 3>& target, double fx, double fy,
                      double cx, double cy, int height, int width);
// Camera at `eye` with yaw (radians about +z, 0 = looking along +x) and pitch (radians, positive = up).
Camera yaw_camera(const std::array<double, 3>& eye, double yaw, double pitch, double fx, double fy, double cx,
                  double cy, int height, int width);

bool inside_any(const std::vector<Box>& boxes, const float* p, float margin = 0.f);

// Samples faces at `density` points per square metre (jittered with `noise` metres along the normal),
// dropping points that fall strictly inside another box. Appends to `out`.
void sample_surfaces(const std::vector<Box>& boxes, double density, double noise, uint64_t seed, PointCloud& out);

// Ray-casts one pinhole view (OpenMP over rows).
RenderedView render(const std::vector<Box>& boxes, const Camera& cam, uint64_t seed);

// Colour of a surface point hit on box b with face f (for points and pixels alike).
std::array<uint8_t, 3> surface_color(const Box& b, int face, const float* p);

// Casts one ray (origin o, direction d, not necessarily unit); returns the box index hit first (-1 none),
// the parameter t (hit = o + t d) and the face entered.
int cast_ray(const std::vector<Box>& boxes, const double* o, const double* d, double tmax, double* t, int* face);

}  // namespace leseg::io::synth
