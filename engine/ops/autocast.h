// SPDX-License-Identifier: Apache-2.0
// Autocast helpers (engine/precision.h is the contract): how the GEMM-class ops cast under bf16/f16, how ops
// without a half kernel take half inputs (arithmetic in f32, one rounding at the store), and the TF32 input
// rounding of the CPU twins.
//   autocast_in(x)       under bf16/f16: an f32/f16/bf16 tensor cast to autocast_dtype() (differentiable; an f32
//                        leaf gets an f32 gradient: the low-precision gradient upcast, as PyTorch's autocast).
//                        Otherwise (f32/tf32 mode, f64, integers) x itself.
//   upcast(x)            half -> f32 (differentiable, exact); other dtypes unchanged.
//   store_as(y, dt)      y cast to dt when dt is half and y is f32 (differentiable: one rounding at the store; the
//                        gradient coming back is rounded to dt on its way in, as the GPU stores it).
//   autocast_emulate(x)  f32 -> f32 with the values rounded through autocast_dtype() and the gradient rounded the
//                        same way on the way back: the emulation of an autocast boundary for ops that do not take
//                        half tensors yet (the sparse convolution: models/sparse_blocks.cpp). Identity when
//                        autocast is off or x is not f32.
//   round_tf32_copy(x)   CPU: a copy of an f32 tensor with every value rounded to TF32 (round_to_tf32, the twin of
//                        cuBLAS/cuDNN's TF32 input conversion). Not differentiable (used on raw kernel inputs).
#pragma once
#include "engine/precision.h"
#include "engine/tensor.h"

namespace leseg {

inline bool is_half_dtype(DType t) { return t == DType::f16 || t == DType::bf16; }
// The dtypes autocast touches (f64 stays f64: it is the gradient-check type).
inline bool autocast_eligible(DType t) { return t == DType::f32 || is_half_dtype(t); }

Tensor autocast_in(const Tensor& x);
Tensor upcast(const Tensor& x);
Tensor store_as(const Tensor& y, DType dt);
Tensor autocast_emulate(const Tensor& x);
Tensor round_tf32_copy(const Tensor& x);

}  // namespace leseg
