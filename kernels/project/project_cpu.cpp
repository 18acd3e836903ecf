// SPDX-License-Identifier: Apache-2.0
// CPU twin of the point projection (the specification): one independent test per point.
#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"
#include "kernels/project/project.h"
#include "kernels/project/project_math.h"

namespace leseg::kernels {

void project_points_cpu(const float* points, int64_t n, const ProjectParams& p, const float* depth,
                        int32_t* out_pixel, float* out_z) {
  LESEG_KCHECK(p.height > 0 && p.width > 0, "project: image size ", p.height, "x", p.width, " must be positive");
  LESEG_KCHECK(int64_t(p.height) * p.width < (int64_t(1) << 31), "project: image too large for i32 pixel ids");
  cpu::for_each(n, [&](int64_t i) {
    float z;
    out_pixel[i] = proj::project_one(points + 3 * i, p, depth, &z);
    if (out_z) out_z[i] = z;
  });
}

}  // namespace leseg::kernels
