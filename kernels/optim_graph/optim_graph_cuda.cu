// SPDX-License-Identifier: Apache-2.0
// CUDA graph-replayable optimizer updates (optim_graph.h): each thread reads the step's hyper-parameters from `h`
// (device memory, written before the graph's replay) and applies optim_math.h's update, like optim_cuda.cu's eager
// kernels do with the same values passed by argument.
#include "kernels/common/cuda_utils.cuh"
#include "kernels/optim_graph/optim_graph.h"

namespace leseg::kernels {

template <class T>
void sgd_step_hp_cuda(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>* h, StreamHandle s) {
  cuda::for_each(n, [=] __device__(int64_t i) { sgd_update<T>(p[i], g[i], buf ? buf + i : nullptr, *h); }, s,
                 "leseg::sgd_step_hp");
}

template <class T>
void adam_step_hp_cuda(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>* h, StreamHandle s) {
  cuda::for_each(
      n, [=] __device__(int64_t i) { adam_update<T>(p[i], g[i], m[i], v[i], vmax ? vmax + i : nullptr, *h); }, s,
      "leseg::adam_step_hp");
}

#define X(T)                                                                                                \
  template void sgd_step_hp_cuda<T>(T*, const T*, T*, int64_t, const SgdParams<T>*, StreamHandle);          \
  template void adam_step_hp_cuda<T>(T*, const T*, T*, T*, T*, int64_t, const AdamParams<T>*, StreamHandle);
X(float)
X(double)
#undef X

}  // namespace leseg::kernels
