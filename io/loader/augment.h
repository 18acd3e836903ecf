// SPDX-License-Identifier: Apache-2.0
// Point-cloud augmentations of the loader, seeded and deterministic (io/synthetic/random.h's portable Rng,
// so a seed gives identical bytes on every platform). One draw per scene fixes a rigid-ish transform
//   p' = R_z(theta) * F * S * (p - c) + clip(N(0, sigma^2), -clip, clip)   (jitter per point and axis)
// with c the centroid of the scene (centring, as CLIP2Scene), S = diag(s_x, s_y, s_z) anisotropic scale,
// F = diag(+-1, +-1, 1) flips of x / y, theta ~ U[0, 2 pi). Normals go through the inverse transpose of
// R F S and are renormalised (so they stay normal to the scaled surface). Labels and point order are never
// touched: an augmented scene has the same points, in the same order, as the input.
// Colours (0..255): per-point Gaussian jitter (sigma in 0..255 units, clamped to [0, 255]); colour drop
// sets the whole scene's colour feature to 0 (mid grey in RGB/127.5 - 1) with probability `color_drop`.
// Defaults: rotation and flips as CLIP2Scene [code]; jitter sigma 0.005 m / clip 0.02 m as Pointcept's
// RandomJitter; scale U(0.9, 1.1) per axis and colour jitter/drop off are [reading] (ERDA's S3DIS recipe
// uses scale U(0.7, 1.3) and RGB drop: set them in the config).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace leseg::io::loader {

struct AugmentOptions {
  bool enabled = true;            // false: only centring (evaluation)
  bool center = true;             // subtract the centroid before everything else
  bool rotate_z = true;           // theta ~ U[0, 2 pi)
  double flip_x = 0.5, flip_y = 0.5;        // probabilities
  double scale_lo = 0.9, scale_hi = 1.1;    // per axis, U(lo, hi)
  double jitter_sigma = 0.005, jitter_clip = 0.02;  // metres; sigma 0 = off
  double color_jitter_sigma = 0.0;  // 0..255 units; 0 = off
  double color_drop = 0.0;          // probability of dropping the scene's colours
};

// One scene's draw.
struct PointTransform {
  double m[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};  // R F S
  double center[3] = {0, 0, 0};
  double theta = 0, scale[3] = {1, 1, 1};
  bool flip_x = false, flip_y = false, color_dropped = false;
};

// coords: (N, 3) f32. Deterministic in (opt, seed, coords).
PointTransform draw_transform(const Tensor& coords, const AugmentOptions& opt, uint64_t seed);

// (N, 3) f32: M (p - c) + jitter (jitter drawn from `seed`'s jitter stream).
Tensor augment_coords(const Tensor& coords, const PointTransform& t, const AugmentOptions& opt, uint64_t seed);
// (N, 3) f32 unit normals through M^-T (zero normals stay zero).
Tensor augment_normals(const Tensor& normals, const PointTransform& t);
// colors (N, 3) u8 -> (N, 3) f32 feature RGB/127.5 - 1 after jitter; all zeros when the draw dropped colours.
Tensor color_features(const Tensor& colors, const PointTransform& t, const AugmentOptions& opt, uint64_t seed);

}  // namespace leseg::io::loader
