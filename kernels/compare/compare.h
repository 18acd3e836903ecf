// SPDX-License-Identifier: Apache-2.0
// Comparisons with broadcasting, results u8 (0/1). No gradient.   defines: compare_{cpu,cuda},
// compare_scalar_{cpu,cuda}, logical_not_{cpu,cuda}.   T: float, double, int32_t, int64_t, uint8_t.
//   compare         out[i] = op(a[oa(i)], b[ob(i)])   (bi == nullptr: equal shapes, n elements each)
//   compare_scalar  out[i] = op(x[i], s)
//   logical_not     out[i] = x[i] == 0   (u8 / bool storage)
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/compare/compare_math.h"
#include "kernels/elementwise/broadcast.h"

namespace leseg::kernels {
template <class T> void compare_cpu(CompareOp op, const T* a, const T* b, uint8_t* out, int64_t n, const BroadcastIndex* bi);
template <class T> void compare_scalar_cpu(CompareOp op, const T* x, T s, uint8_t* out, int64_t n);
void logical_not_cpu(const uint8_t* x, uint8_t* out, int64_t n);
template <class T> void compare_cuda(CompareOp op, const T* a, const T* b, uint8_t* out, int64_t n, const BroadcastIndex* bi,
                                     StreamHandle s);
template <class T> void compare_scalar_cuda(CompareOp op, const T* x, T sv, uint8_t* out, int64_t n, StreamHandle s);
void logical_not_cuda(const uint8_t* x, uint8_t* out, int64_t n, StreamHandle s);
}  // namespace leseg::kernels
