// SPDX-License-Identifier: Apache-2.0
// CPU twin of the optimizer kernels: the specification. Elementwise updates are race-free (OpenMP over
// elements); norm partials use fixed chunks summed serially in double, so the result does not depend
// on the thread count.
#include "kernels/common/cpu_utils.h"
#include "kernels/optim/optim.h"

namespace leseg::kernels {

template <class T>
void sgd_step_cpu(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>& h) {
  SgdParams<T> hh = h;
  cpu::for_each(n, [=](int64_t i) { sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, hh); });
}

template <class T>
void adam_step_cpu(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>& h) {
  AdamParams<T> hh = h;
  cpu::for_each(n, [=](int64_t i) { adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, hh); });
}

template <class T>
void ema_update_cpu(T* t, const T* src, int64_t n, T momentum) {
  cpu::for_each(n, [=](int64_t i) { ema_lerp<T>(t[i], src[i], momentum); });
}

template <class T>
void scale_cpu(T* x, int64_t n, T alpha) {
  cpu::for_each(n, [=](int64_t i) { x[i] = x[i] * alpha; });
}

template <class T>
void norm_partials_cpu(const T* x, int64_t n, NormKind k, double* partials) {
  int64_t chunks = norm_partials_count(n);
  auto one = [=](int64_t c) {
    int64_t b = c * kNormChunk, e = b + kNormChunk < n ? b + kNormChunk : n;
    double acc = 0.0;
    for (int64_t i = b; i < e; ++i) acc = norm_combine(acc, norm_term(double(x[i]), k), k);
    partials[c] = acc;
  };
  cpu::for_each(chunks, one, 2);
}

#define X(T)                                                                                  \
  template void sgd_step_cpu<T>(T*, const T*, T*, int64_t, const SgdParams<T>&);             \
  template void adam_step_cpu<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams<T>&);   \
  template void ema_update_cpu<T>(T*, const T*, int64_t, T);                                  \
  template void scale_cpu<T>(T*, int64_t, T);                                                 \
  template void norm_partials_cpu<T>(const T*, int64_t, NormKind, double*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
