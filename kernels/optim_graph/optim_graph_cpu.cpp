// SPDX-License-Identifier: Apache-2.0
// CPU twins of the graph-replayable optimizer updates (optim_graph.h): optim_math.h's update per element.
#include "kernels/optim_graph/optim_graph.h"

namespace leseg::kernels {

template <class T>
void sgd_step_hp_cpu(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>* h) {
  const SgdParams<T> hh = *h;
  for (int64_t i = 0; i < n; ++i) sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, hh);
}

template <class T>
void adam_step_hp_cpu(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>* h) {
  const AdamParams<T> hh = *h;
  for (int64_t i = 0; i < n; ++i) adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, hh);
}

#define X(T)                                                                                   \
  template void sgd_step_hp_cpu<T>(T*, const T*, T*, int64_t, const SgdParams<T>*);            \
  template void adam_step_hp_cpu<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams<T>*);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
