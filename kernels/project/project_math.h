// SPDX-License-Identifier: Apache-2.0
// Per-point projection shared by the CPU twin and the CUDA kernel. Products and sums use the
// round-to-nearest intrinsics on the device so that no FMA contraction changes a rounding decision
// (u = 0.5 boundaries) relative to the host build.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/project/project.h"

namespace leseg::kernels::proj {

LESEG_HD double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
LESEG_HD double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// Returns the pixel index (or -1) of point p; writes its camera depth to *z.
LESEG_HD int32_t project_one(const float* p, const ProjectParams& P, const float* depth, float* z) {
  const double* M = P.world_to_cam;
  double X[3];
  for (int r = 0; r < 3; ++r)
    X[r] = add(add(add(mul(M[4 * r], double(p[0])), mul(M[4 * r + 1], double(p[1]))), mul(M[4 * r + 2], double(p[2]))),
               M[4 * r + 3]);
  *z = float(X[2]);
  if (!(X[2] > double(P.min_depth)) || !(X[2] > 0.0)) return -1;
  const double u = add(mul(P.fx, X[0] / X[2]), P.cx);
  const double v = add(mul(P.fy, X[1] / X[2]), P.cy);
  const double uf = floor(add(u, 0.5)), vf = floor(add(v, 0.5));
  if (!(uf >= 0.0 && uf <= double(P.width - 1) && vf >= 0.0 && vf <= double(P.height - 1))) return -1;
  const int32_t ui = int32_t(uf), vi = int32_t(vf);
  const int32_t pix = vi * P.width + ui;
  if (depth != nullptr) {
    const float d = depth[pix];
    if (!(d > 0.f) || !(fabs(double(d) - X[2]) <= double(P.depth_tol))) return -1;
  }
  return pix;
}

}  // namespace leseg::kernels::proj
