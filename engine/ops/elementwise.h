// SPDX-License-Identifier: Apache-2.0
// Elementwise ops (autograd): binary with NumPy broadcasting (up to 6-D), scalar-operand overloads and
// operators, unary activations, where / masked_fill, comparisons (u8, no gradient), one_hot, and the
// broadcasting helpers broadcast_to / sum_to that other ops use in their backward passes.
// Inputs of a binary op must share dtype (f32 or f64; error names both) and device. Results are new
// contiguous tensors. Gradient conventions (see kernels/elementwise/elementwise_math.h):
//   maximum/minimum: a tie splits the gradient 0.5 / 0.5;  abs'(0) = relu'(0) = 0;
//   clamp: gradient only strictly inside (lo, hi);  pow(a, b): ∂/∂b = a^b log a (expects a > 0).
#pragma once
#include <limits>

#include "engine/tensor.h"

namespace leseg {

// ---- broadcasting helpers ----
// NumPy broadcast of two shapes; throws naming both shapes when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// x expanded (copied) to `shape` (x's shape must broadcast to it). Backward: sum_to(g, x.shape()).
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// g summed over the dimensions where `shape` was broadcast (leading extra dims, and dims of size 1), so
// that the result has `shape`. The inverse of broadcast_to for gradients; differentiable.
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- binary (broadcasting) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// scalar operand (the scalar gets no gradient)
Tensor add(const Tensor& a, double s);
Tensor add(double s, const Tensor& a);
Tensor sub(const Tensor& a, double s);
Tensor sub(double s, const Tensor& a);
Tensor mul(const Tensor& a, double s);
Tensor mul(double s, const Tensor& a);
Tensor div(const Tensor& a, double s);
Tensor div(double s, const Tensor& a);
Tensor pow(const Tensor& a, double s);
Tensor pow(double s, const Tensor& a);
Tensor maximum(const Tensor& a, double s);
Tensor minimum(const Tensor& a, double s);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(s, a); }
inline Tensor operator-(double s, const Tensor& a) { return sub(s, a); }
inline Tensor operator*(double s, const Tensor& a) { return mul(s, a); }
inline Tensor operator/(double s, const Tensor& a) { return div(s, a); }

// ---- unary ----
Tensor neg(const Tensor& x);
inline Tensor operator-(const Tensor& x) { return neg(x); }
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
// Exact GELU x Φ(x) (erf form); approximate_tanh: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
Tensor gelu(const Tensor& x, bool approximate_tanh = false);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
// min(max(x, lo), hi); lo/hi may be ±infinity (clamp_min / clamp_max).
Tensor clamp(const Tensor& x, double lo, double hi);
inline Tensor clamp_min(const Tensor& x, double lo) { return clamp(x, lo, std::numeric_limits<double>::infinity()); }
inline Tensor clamp_max(const Tensor& x, double hi) { return clamp(x, -std::numeric_limits<double>::infinity(), hi); }
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);

// ---- selection / masks ----
// cond (u8 or bool), a, b broadcast together; out = cond ? a : b. Gradient to a where cond, to b elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// x with `value` where mask (u8 or bool, broadcast to x's shape) is set; zero gradient there.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- comparisons (u8 0/1, no gradient; dtypes f32, f64, i32, i64, u8; broadcasting) ----
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double s);
Tensor ne(const Tensor& a, double s);
Tensor lt(const Tensor& a, double s);
Tensor le(const Tensor& a, double s);
Tensor gt(const Tensor& a, double s);
Tensor ge(const Tensor& a, double s);
// u8 / bool inputs (nonzero = true), u8 result
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);

// index (i32/i64, any shape S) -> f32 of shape S + (C,), 1 at the index. Error naming the first index
// outside [0, C). No gradient.
Tensor one_hot(const Tensor& index, int64_t C);

}  // namespace leseg
