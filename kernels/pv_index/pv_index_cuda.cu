// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/cuda_utils.cuh"
#include "kernels/pv_index/pv_index.h"

namespace leseg::kernels {

void pv_parent_scatter_cuda(const int32_t* in_idx, const int32_t* out_idx, int64_t P, int32_t* parent, StreamHandle s) {
  // Each fine voxel has exactly one parent in a stride-2 kernel-2 map: the writes do not collide.
  cuda::for_each(P, [=] __device__(int64_t p) { parent[in_idx[p]] = out_idx[p]; }, s, "leseg::pv_parent_scatter");
}
void pv_compose_cuda(int32_t* v, int64_t n, const int32_t* parent, int64_t n_parent, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { v[i] = pv_compose_one(v[i], parent, n_parent); }, s,
                 "leseg::pv_compose");
}
void pv_widen_cuda(const int32_t* v, int64_t n, int64_t* out, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { out[i] = v[i]; }, s, "leseg::pv_widen");
}

}  // namespace leseg::kernels
