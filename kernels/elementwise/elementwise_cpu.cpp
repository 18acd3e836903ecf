// SPDX-License-Identifier: Apache-2.0
// CPU twin of the elementwise kernels (the specification): the shared loop bodies of elementwise_loops.h
// run under cpu::for_each (OpenMP over the output index, race-free: each i writes only out[i]).
#include "kernels/common/cpu_utils.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_dispatch.h"

namespace leseg::kernels {

namespace {
struct CpuLaunch {
  template <class F>
  void operator()(int64_t n, const F& f) const {
    cpu::for_each(n, f);
  }
};
}  // namespace

template <class T>
void binary_forward_cpu(BinaryOp op, const T* a, const T* b, T* out, int64_t n, const BroadcastIndex* bi) {
  ew::binary_forward<T>(CpuLaunch{}, op, a, b, out, n, bi);
}
template <class T>
void binary_backward_cpu(BinaryOp op, const T* a, const T* b, const T* g, T* ga, T* gb, int64_t n, const BroadcastIndex* bi) {
  ew::binary_backward<T>(CpuLaunch{}, op, a, b, g, ga, gb, n, bi);
}
template <class T>
void binary_scalar_forward_cpu(BinaryOp op, const T* x, T s, bool scalar_first, T* out, int64_t n) {
  ew::binary_scalar_forward<T>(CpuLaunch{}, op, x, s, scalar_first, out, n);
}
template <class T>
void binary_scalar_backward_cpu(BinaryOp op, const T* x, T s, bool scalar_first, const T* g, T* gx, int64_t n) {
  ew::binary_scalar_backward<T>(CpuLaunch{}, op, x, s, scalar_first, g, gx, n);
}
template <class T>
void unary_forward_cpu(UnaryOp op, const T* x, T* y, int64_t n, UnaryParams p) {
  ew::unary_forward<T>(CpuLaunch{}, op, x, y, n, p);
}
template <class T>
void unary_backward_cpu(UnaryOp op, const T* x, const T* y, const T* gy, T* gx, int64_t n, UnaryParams p) {
  ew::unary_backward<T>(CpuLaunch{}, op, x, y, gy, gx, n, p);
}
template <class T>
void where_forward_cpu(const uint8_t* cond, const T* a, T a_value, const T* b, T* out, int64_t n, const BroadcastIndex& bi) {
  cpu::for_each(n, ew::WhereFwd<T>{cond, a, a_value, b, out, bi});
}
template <class T>
void where_backward_cpu(const uint8_t* cond, const T* g, T* ga, T* gb, int64_t n, const BroadcastIndex& bi) {
  if (!ga && !gb) return;
  cpu::for_each(n, ew::WhereBwd<T>{cond, g, ga, gb, bi});
}
template <class T>
void broadcast_copy_cpu(const T* in, T* out, int64_t n, const BroadcastIndex& bi) {
  cpu::for_each(n, ew::BroadcastCopy<T>{in, out, bi});
}
template <class I>
int64_t one_hot_cpu(const I* idx, float* out, int64_t n, int64_t C) {
  int64_t first_bad = -1;
  for (int64_t j = 0; j < n; ++j) {
    float* row = out + j * C;
    for (int64_t c = 0; c < C; ++c) row[c] = 0.f;
    int64_t k = int64_t(idx[j]);
    if (k >= 0 && k < C) row[k] = 1.f;
    else if (first_bad < 0) first_bad = j;
  }
  return first_bad;
}

#define X(T)                                                                                                   \
  template void binary_forward_cpu<T>(BinaryOp, const T*, const T*, T*, int64_t, const BroadcastIndex*);      \
  template void binary_backward_cpu<T>(BinaryOp, const T*, const T*, const T*, T*, T*, int64_t,               \
                                       const BroadcastIndex*);                                                \
  template void binary_scalar_forward_cpu<T>(BinaryOp, const T*, T, bool, T*, int64_t);                       \
  template void binary_scalar_backward_cpu<T>(BinaryOp, const T*, T, bool, const T*, T*, int64_t);            \
  template void unary_forward_cpu<T>(UnaryOp, const T*, T*, int64_t, UnaryParams);                            \
  template void unary_backward_cpu<T>(UnaryOp, const T*, const T*, const T*, T*, int64_t, UnaryParams);       \
  template void where_forward_cpu<T>(const uint8_t*, const T*, T, const T*, T*, int64_t, const BroadcastIndex&); \
  template void where_backward_cpu<T>(const uint8_t*, const T*, T*, T*, int64_t, const BroadcastIndex&);      \
  template void broadcast_copy_cpu<T>(const T*, T*, int64_t, const BroadcastIndex&);
X(float)
X(double)
#undef X
template int64_t one_hot_cpu<int32_t>(const int32_t*, float*, int64_t, int64_t);
template int64_t one_hot_cpu<int64_t>(const int64_t*, float*, int64_t, int64_t);

}  // namespace leseg::kernels
