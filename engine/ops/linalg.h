// SPDX-License-Identifier: Apache-2.0
// Linear algebra ops (autograd): matmul with transpose flags, transpose / permute / t, linear.
// Kernels: kernels/matmul (Eigen on CPU, cuBLAS on CUDA; TF32 only under train.precision=tf32, see
// engine/precision.h: the CPU twin then rounds the GEMM inputs with round_to_tf32), kernels/transpose (permute
// copy), kernels/batch_norm channel_sum (bias grad).
// Autocast (bf16/f16, engine/precision.h): matmul and linear cast their f32/half inputs to autocast_dtype() and
// run the half GEMM (matmul_lowp_*: f32 accumulation, one rounding at the store), returning autocast_dtype(); half
// inputs outside autocast run the same in their own dtype. Gradients: half for the half tensors, f32 for f32
// leaves (the cast's backward upcasts the half gradient).
#pragma once
#include <vector>

#include "engine/determinism.h"
#include "engine/tensor.h"

namespace leseg {

// C = op(a)·op(b), op(a) = a (…, M, K) or, with trans_a, the last two dims of a (…, K, M) swapped; same for b.
// Batch dims: NumPy-broadcast (a 2-D operand is used in place for every batch; other broadcasts expand
// the operand with broadcast_to, a copy). f32/f64, same
// dtype and device. Backward uses the transpose flags (nothing materialised): dA = dC·op(B)ᵀ, dB = op(A)ᵀ·dC,
// summed over the batch for a broadcast operand.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
inline Tensor matmul_nt(const Tensor& a, const Tensor& b) { return matmul(a, b, false, true); }  // a·bᵀ
inline Tensor matmul_tn(const Tensor& a, const Tensor& b) { return matmul(a, b, true, false); }  // aᵀ·b

// out = x with dims d0 and d1 swapped (a copy). Backward: transpose back.
Tensor transpose(const Tensor& x, int d0, int d1);
// out.shape[i] = x.shape[perm[i]] (a copy). Backward: the inverse permutation.
Tensor permute(const Tensor& x, const std::vector<int>& perm);
// 2-D transpose.
Tensor t(const Tensor& x);

// y = x·Wᵀ + b with x (…, in), W (out, in) (PyTorch layout), b (out) optional -> y (…, out).
// Backward: dx = dy·W, dW = dyᵀ·x (flags, no transposes), db = column sums of dy (double accumulation).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

}  // namespace leseg
