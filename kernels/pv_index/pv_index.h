// SPDX-License-Identifier: Apache-2.0
// SPVCNN's point -> voxel index at a coarser stride, composed on the device (models/spvcnn.cpp point_voxel_index):
// no host copy of the inverse map or of the down-sampling kernel maps. Pointers only, no autograd.
//   parent_scatter  in_idx, out_idx (P pairs of a stride s -> 2s map) -> parent (n_in, pre-filled with -1):
//                   parent[in_idx[p]] = out_idx[p]
//   compose         v (n) i32: v[i] = v[i] in [0, n_parent) ? parent[v[i]] : -1   (in place)
//   widen           v (n) i32 -> out (n) i64
// A -1 left in v (a voxel without a parent, or an inverse entry out of range) is found by the device check
// (kernels/device_error: check_ids) on the i64 result and read once per step, like every device-side input error.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

LESEG_HD int32_t pv_compose_one(int32_t v, const int32_t* parent, int64_t n_parent) {
  return v >= 0 && int64_t(v) < n_parent ? parent[v] : -1;
}

void pv_parent_scatter_cpu(const int32_t* in_idx, const int32_t* out_idx, int64_t P, int32_t* parent);
void pv_compose_cpu(int32_t* v, int64_t n, const int32_t* parent, int64_t n_parent);
void pv_widen_cpu(const int32_t* v, int64_t n, int64_t* out);

void pv_parent_scatter_cuda(const int32_t* in_idx, const int32_t* out_idx, int64_t P, int32_t* parent, StreamHandle s);
void pv_compose_cuda(int32_t* v, int64_t n, const int32_t* parent, int64_t n_parent, StreamHandle s);
void pv_widen_cuda(const int32_t* v, int64_t n, int64_t* out, StreamHandle s);

}  // namespace leseg::kernels
