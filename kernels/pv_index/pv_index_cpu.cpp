// SPDX-License-Identifier: Apache-2.0
#include "kernels/pv_index/pv_index.h"

namespace leseg::kernels {

void pv_parent_scatter_cpu(const int32_t* in_idx, const int32_t* out_idx, int64_t P, int32_t* parent) {
  for (int64_t p = 0; p < P; ++p) parent[in_idx[p]] = out_idx[p];
}
void pv_compose_cpu(int32_t* v, int64_t n, const int32_t* parent, int64_t n_parent) {
  for (int64_t i = 0; i < n; ++i) v[i] = pv_compose_one(v[i], parent, n_parent);
}
void pv_widen_cpu(const int32_t* v, int64_t n, int64_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = v[i];
}

}  // namespace leseg::kernels
