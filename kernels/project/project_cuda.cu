// SPDX-License-Identifier: Apache-2.0
// CUDA point projection: the project_math.h test, one thread per point.
#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
#include "kernels/project/project.h"
#include "kernels/project/project_math.h"

namespace leseg::kernels {

void project_points_cuda(const float* points, int64_t n, const ProjectParams& p, const float* depth,
                         int32_t* out_pixel, float* out_z, StreamHandle s) {
  LESEG_KCHECK(p.height > 0 && p.width > 0, "project: image size ", p.height, "x", p.width, " must be positive");
  LESEG_KCHECK(int64_t(p.height) * p.width < (int64_t(1) << 31), "project: image too large for i32 pixel ids");
  const ProjectParams P = p;
  cuda::for_each(n, [=] __device__(int64_t i) {
    float z;
    out_pixel[i] = proj::project_one(points + 3 * i, P, depth, &z);
    if (out_z) out_z[i] = z;
  }, s, "leseg::project_points");
}

}  // namespace leseg::kernels
