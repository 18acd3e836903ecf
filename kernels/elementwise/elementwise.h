// SPDX-License-Identifier: Apache-2.0
// Elementwise kernels with NumPy broadcasting.   defines: binary_*, unary_*, where_*, broadcast_copy_*,
// one_hot_*  (each _cpu and _cuda).  T: float, double.
//
// binary_forward      out[i] = F(a[oa(i)], b[ob(i)])            out: broadcast shape, n = numel(out)
//   bi == nullptr: fast path, a, b, out all contiguous with n elements (equal shapes).
//   bi: BroadcastIndex over the output with operand 0 = a, 1 = b (strides 0 on broadcast dims).
// binary_backward     ga[i] = g[i] ∂F/∂a(a, b),  gb[i] = g[i] ∂F/∂b(a, b)   (ga, gb output-shaped, either
//   may be null). The engine then sums them back to each input's shape (sum_to): for z = F(a, b) with a
//   broadcast, ∂L/∂a_j = Σ_{i: oa(i) = j} ∂L/∂z_i ∂F/∂a(a_j, b_ob(i)).
// binary_scalar_*     the same with one operand a host scalar s: out = F(x, s) or F(s, x) (scalar_first).
// unary_forward       y = f(x);  unary_backward  gx = gy * f'(x) (derivative functors use x and y).
// where_forward       out[i] = cond[oc(i)] ? a[oa(i)] : b[ob(i)]   (operands 0 cond (u8/bool), 1 a, 2 b;
//   a == nullptr: the scalar a_value is used, i.e. masked_fill(b, cond, a_value)).
// where_backward      ga[i] = cond ? g[i] : 0,  gb[i] = cond ? 0 : g[i]   (output-shaped; either may be null).
// broadcast_copy      out[i] = in[o0(i)]  (expand a tensor to a broadcast shape).
// one_hot             out (n, C) f32 zero-filled with out[j, idx[j]] = 1. Out-of-range indices leave the row
//   zero and are reported: CPU returns the position of the first one (-1 if none); CUDA records one offending
//   value in `bad` (device, 2 x int64, zeroed by the caller: bad[0] = 1 flag, bad[1] = value).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/elementwise/broadcast.h"
#include "kernels/elementwise/elementwise_math.h"

namespace leseg::kernels {

template <class T> void binary_forward_cpu(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bi);
template <class T> void binary_backward_cpu(BinaryOp op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n,
                                            const BroadcastIndex* bi);
template <class T> void binary_scalar_forward_cpu(BinaryOp op, const T* x, T s, bool scalar_first, T* out, int64_t n);
template <class T> void binary_scalar_backward_cpu(BinaryOp op, const T* x, T s, bool scalar_first, const T* g, T* gx, int64_t n);
template <class T> void unary_forward_cpu(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p);
template <class T> void unary_backward_cpu(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, UnaryParams p);
template <class T> void where_forward_cpu(const uint8_t* cond, const T* a, T a_value, const T* b, T* out, int64_t n,
                                          const BroadcastIndex& bi);
template <class T> void where_backward_cpu(const uint8_t* cond, const T* g, T* ga, T* gb, int64_t n, const BroadcastIndex& bi);
template <class T> void broadcast_copy_cpu(const T* in, T* out, int64_t n, const BroadcastIndex& bi);
template <class I> int64_t one_hot_cpu(const I* idx, float* out, int64_t n, int64_t C);

template <class T> void binary_forward_cuda(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bi,
                                            StreamHandle s);
template <class T> void binary_backward_cuda(BinaryOp op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n,
                                             const BroadcastIndex* bi, StreamHandle s);
template <class T> void binary_scalar_forward_cuda(BinaryOp op, const T* x, T sv, bool scalar_first, T* out, int64_t n,
                                                   StreamHandle s);
template <class T> void binary_scalar_backward_cuda(BinaryOp op, const T* x, T sv, bool scalar_first, const T* g, T* gx,
                                                    int64_t n, StreamHandle s);
template <class T> void unary_forward_cuda(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p, StreamHandle s);
template <class T> void unary_backward_cuda(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, UnaryParams p,
                                            StreamHandle s);
template <class T> void where_forward_cuda(const uint8_t* cond, const T* a, T a_value, const T* b, T* out, int64_t n,
                                           const BroadcastIndex& bi, StreamHandle s);
template <class T> void where_backward_cuda(const uint8_t* cond, const T* g, T* ga, T* gb, int64_t n, const BroadcastIndex& bi,
                                            StreamHandle s);
template <class T> void broadcast_copy_cuda(const T* in, T* out, int64_t n, const BroadcastIndex& bi, StreamHandle s);
template <class I> void one_hot_cuda(const I* idx, float* out, int64_t n, int64_t C, int64_t* bad, StreamHandle s);

}  // namespace leseg::kernels
