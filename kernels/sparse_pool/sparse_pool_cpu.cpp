// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <vector>

#include "kernels/common/cpu_utils.h"
#include "kernels/sparse_pool/sparse_pool.h"
#include "kernels/sparse_pool/sparse_pool_math.h"

namespace leseg::kernels {

template <class T>
void global_avg_pool_forward_cpu(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y) {
  cpu::for_each(B * C, [&](int64_t t) { y[t] = pool::avg_one(x, coords, n, C, t / C, t % C); }, 4);
}
template <class T>
void global_avg_pool_backward_cpu(const T* gy, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* gx) {
  std::vector<int64_t> cnt(size_t(B), 0);
  for (int64_t i = 0; i < n; ++i) ++cnt[size_t(coords[4 * i])];
  cpu::for_each(n, [&](int64_t i) {
    const int32_t b = coords[4 * i];
    for (int64_t c = 0; c < C; ++c) gx[i * C + c] = store_acc<T>(load_acc(gy[b * C + c]) / acc_t<T>(cnt[size_t(b)]));
  });
}
template <class T>
void global_max_pool_forward_cpu(const T* x, const int32_t* coords, int64_t n, int64_t C, int64_t B, T* y,
                                 int32_t* argmax) {
  cpu::for_each(
      B * C, [&](int64_t t) {
        const int32_t a = pool::argmax_one(x, coords, n, C, t / C, t % C);
        argmax[t] = a;
        y[t] = a >= 0 ? x[int64_t(a) * C + t % C] : store_acc<T>(0);
      },
      4);
}
template <class T>
void global_max_pool_backward_cpu(const T* gy, const int32_t* argmax, int64_t n, int64_t C, int64_t B, T* gx) {
  std::fill(gx, gx + n * C, store_acc<T>(0));
  for (int64_t t = 0; t < B * C; ++t)
    if (argmax[t] >= 0) gx[int64_t(argmax[t]) * C + t % C] = gy[t];
}

template <class T>
void column_concat_cpu(const T* a, const T* b, int64_t n, int64_t ca, int64_t cb, T* out) {
  const int64_t C = ca + cb;
  cpu::for_each(n * C, [&](int64_t t) {
    const int64_t i = t / C, c = t % C;
    out[t] = c < ca ? a[i * ca + c] : b[i * cb + c - ca];
  });
}
template <class T>
void column_split_cpu(const T* g, int64_t n, int64_t ca, int64_t cb, T* ga, T* gb) {
  const int64_t C = ca + cb;
  cpu::for_each(n * C, [&](int64_t t) {
    const int64_t i = t / C, c = t % C;
    if (c < ca) {
      if (ga) ga[i * ca + c] = g[t];
    } else if (gb) {
      gb[i * cb + c - ca] = g[t];
    }
  });
}

#define LESEG_INST(T)                                                                                       \
  template void global_avg_pool_forward_cpu<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*);    \
  template void global_avg_pool_backward_cpu<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*);   \
  template void global_max_pool_forward_cpu<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*,     \
                                               int32_t*);                                                   \
  template void global_max_pool_backward_cpu<T>(const T*, const int32_t*, int64_t, int64_t, int64_t, T*);   \
  template void column_concat_cpu<T>(const T*, const T*, int64_t, int64_t, int64_t, T*);                    \
  template void column_split_cpu<T>(const T*, int64_t, int64_t, int64_t, T*, T*);
LESEG_INST(float)
LESEG_INST(double)
LESEG_INST(::leseg::f16_t)
LESEG_INST(::leseg::bf16_t)
#undef LESEG_INST

}  // namespace leseg::kernels
