// SPDX-License-Identifier: Apache-2.0
// Drivers shared by elementwise_cpu.cpp and elementwise_cuda.cu: pick the functor for the runtime op and
// the loop shape (same-shape fast path / broadcast / scalar operand), then hand the body to `launch(n, f)`
// (cpu::for_each or cuda::for_each). Internal to kernels/elementwise.
#pragma once
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_loops.h"

namespace leseg::kernels::ew {

template <class T, class L>
void binary_forward(L&& launch, BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bi) {
  visit_binary<void>(op, [&](auto fn) {
    using F = decltype(fn);
    if (!bi) launch(n, BinarySame<F, T>{a, b, out});
    else launch(n, BinaryBcast<F, T>{a, b, out, *bi});
  });
}
template <class T, class L>
void binary_backward(L&& launch, BinaryOp op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n,
                     const BroadcastIndex* bi) {
  if (!ga && !gb) return;
  visit_binary<void>(op, [&](auto fn) {
    using F = decltype(fn);
    if (!bi) launch(n, BinaryBackSame<F, T>{a, b, g, ga, gb});
    else launch(n, BinaryBackBcast<F, T>{a, b, g, ga, gb, *bi});
  });
}
template <class T, class L>
void binary_scalar_forward(L&& launch, BinaryOp op, const T* x, T s, bool scalar_first, T* out, int64_t n) {
  visit_binary<void>(op, [&](auto fn) { launch(n, BinaryScalar<decltype(fn), T>{x, s, scalar_first, out}); });
}
template <class T, class L>
void binary_scalar_backward(L&& launch, BinaryOp op, const T* x, T s, bool scalar_first, const T* g, T* gx, int64_t n) {
  visit_binary<void>(op, [&](auto fn) { launch(n, BinaryBackScalar<decltype(fn), T>{x, s, scalar_first, g, gx}); });
}
template <class T, class L>
void unary_forward(L&& launch, UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p) {
  visit_unary<void>(op, [&](auto fn) { launch(n, UnaryFwd<decltype(fn), T>{x, y, p}); });
}
template <class T, class L>
void unary_backward(L&& launch, UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, UnaryParams p) {
  visit_unary<void>(op, [&](auto fn) { launch(n, UnaryBwd<decltype(fn), T>{x, y, gy, gx, p}); });
}

}  // namespace leseg::kernels::ew
