// SPDX-License-Identifier: Apache-2.0
// Shape and index ops (autograd): concat / split, index_select / index_add / scatter_add / embedding.
// Kernels: kernels/concat (strided row copies), kernels/index (gather, scatter-add). Index tensors are
// i32 or i64 and never get gradients; an out-of-range index throws naming its value, its position and
// the valid range. Scatter-adds on CUDA use atomics unless set_deterministic(true) (engine/determinism.h),
// which switches to a host-built CSR and a fixed summation order (the CPU twin's).
#pragma once
#include <vector>

#include "engine/determinism.h"
#include "engine/tensor.h"

namespace leseg {

// Join along `dim` (all other dims equal; same dtype and device). Backward: split of the gradient.
Tensor concat(const std::vector<Tensor>& xs, int dim = 0);
// Pieces of sizes `sizes` (summing to x.size(dim)) along `dim`; one autograd node with several outputs.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim = 0);

// out[i, …] = x[idx[i], …] along `dim` (idx 1-D). Backward: scatter-add of the gradient into x's shape.
Tensor index_select(const Tensor& x, int dim, const Tensor& idx);
// out = x with out[idx[i], …] += src[i, …] along dim 0 (src (n, …rest of x)). Gradients: dx = g,
// dsrc = g[idx].
Tensor index_add(const Tensor& x, const Tensor& idx, const Tensor& src);
// zeros (n_rows, …src rest) with rows idx += src: index_add into zeros.
Tensor scatter_add(int64_t n_rows, const Tensor& idx, const Tensor& src);
// table[idx]: idx any shape (i32/i64), table (V, D) -> (…idx, D). Backward: scatter-add into (V, D).
Tensor embedding(const Tensor& idx, const Tensor& table);

}  // namespace leseg
