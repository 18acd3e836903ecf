// SPDX-License-Identifier: Apache-2.0
// Dense 2-D ops (autograd), NCHW, PyTorch semantics: conv2d (groups = 1), max / avg / adaptive-avg pooling,
// bilinear interpolation. Kernels: kernels/conv2d (im2col + Eigen GEMM on CPU; cuDNN or im2col + cuBLAS on
// CUDA), kernels/pool2d, kernels/resize; formulas and gradient derivations are in their headers. f32/f64.
// Batch norm over (N, C, H, W) is engine/ops/nn_functional.h's batch_norm (it takes (N, C, L…)).
#pragma once
#include <cstdint>

#include "engine/determinism.h"
#include "engine/tensor.h"

namespace leseg {

// A (height, width) pair; one number means both.
struct Size2 {
  int64_t h = 0, w = 0;
  Size2(int64_t v) : h(v), w(v) {}  // NOLINT: implicit on purpose (conv2d(x, w, b, 2, 1))
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};

// x (N, C_in, H, W), weight (C_out, C_in, KH, KW), bias (C_out) or undefined -> (N, C_out, H_out, W_out),
// H_out = ⌊(H + 2·pad − dil·(KH − 1) − 1) / stride⌋ + 1. f32 uses TF32 only under train.precision=tf32
// (CUDA: cuDNN/cuBLAS TF32 math; CPU twin: inputs rounded with round_to_tf32). Autocast (bf16/f16): inputs cast to
// autocast_dtype(), f32 arithmetic, output in autocast_dtype(). Pooling and resize take f16/bf16 (f32 inside,
// one rounding at the store).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2 stride = 1,
              Size2 padding = 0, Size2 dilation = 1);

// Max over kernel windows (floor mode, dilation 1); stride 0 means stride = kernel; padding <= kernel / 2
// (padding never wins). x (N, C, H, W) or (C, H, W). Gradient goes to the first maximum of each window.
Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride = 0, Size2 padding = 0);
// Mean over kernel windows; count_include_pad as PyTorch (divisor counts padding inside the padded image).
Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride = 0, Size2 padding = 0, bool count_include_pad = true);
// Mean over windows [⌊o·H/OH⌋, ⌈(o+1)·H/OH⌉) per axis; output (…, OH, OW); (1, 1) is global average pooling.
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size);
// Bilinear resize of (N, C, H, W) or (C, H, W) to (…, out.h, out.w), F.interpolate(mode="bilinear", size=…,
// align_corners=…) semantics.
Tensor interpolate_bilinear(const Tensor& x, Size2 size, bool align_corners = false);

}  // namespace leseg
