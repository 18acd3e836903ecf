// SPDX-License-Identifier: Apache-2.0
// Reductions (autograd) over one dimension (keepdim flag) or over all elements (0-d result).
// The kernel views x as (outer, r, inner) and reduces r with double accumulation in a fixed order, so
// results are deterministic on CPU and CUDA (no float atomics). f32 / f64.
//   sum, mean:   backward broadcasts g (divided by r for mean).
//   max, min:    values and i64 indices of the first extreme element (ties -> lowest index, NaN wins);
//                the gradient flows to that element only. Error on an empty reduced dimension.
//   var:         unbiased (divide by r - 1) by default, as PyTorch; unbiased=false divides by r.
//                ∂var/∂x_k = 2 (x_k - mean) / (r - correction).
#pragma once
#include "engine/tensor.h"

namespace leseg {

struct ValuesIndices {
  Tensor values;
  Tensor indices;  // i64
};

Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, int dim, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, int dim, bool keepdim = false);
Tensor max(const Tensor& x);
ValuesIndices max(const Tensor& x, int dim, bool keepdim = false);
Tensor min(const Tensor& x);
ValuesIndices min(const Tensor& x, int dim, bool keepdim = false);
Tensor var(const Tensor& x, bool unbiased = true);
Tensor var(const Tensor& x, int dim, bool unbiased = true, bool keepdim = false);
// Indices only (i64, no gradient).
Tensor argmax(const Tensor& x, int dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int dim, bool keepdim = false);
// Prefix sums of a 1-D integer tensor (u8 / bool, i32, i64) as i64 on its device: out[i] = Σ_{j<i} x[j] when
// exclusive, Σ_{j<=i} x[j] otherwise. Exact (integer sums), so CPU and CUDA agree bit for bit; no host read. With a
// 0/1 mask, the exclusive sum ranks the selected elements (the k-th selected element gets k). No gradient.
Tensor cumsum(const Tensor& x, bool exclusive = false);

}  // namespace leseg
