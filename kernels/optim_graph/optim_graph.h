// SPDX-License-Identifier: Apache-2.0
// Optimizer updates whose hyper-parameters are read from memory at run time instead of being kernel arguments, so
// that a CUDA graph captured once (train/optimizer_graph.h) replays them with each step's learning rate and bias
// corrections: the host writes the step's SgdParams / AdamParams into a fixed buffer before every replay.
// The per-element math is optim_math.h's (sgd_update / adam_update), the same the eager kernels run, so a replayed
// step equals an eager one bit for bit. CPU twins: `h` is host memory; CUDA: `h` is device memory.
//   sgd_step_hp   p (n), g (n), buf (n or nullptr when momentum == 0)
//   adam_step_hp  p (n), g (n), m (n), v (n), vmax (n or nullptr unless amsgrad)          T: float, double
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/optim/optim_math.h"

namespace leseg::kernels {

template <class T> void sgd_step_hp_cpu(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>* h);
template <class T> void sgd_step_hp_cuda(T* p, const T* g, T* buf, int64_t n, const SgdParams<T>* h, StreamHandle s);
template <class T>
void adam_step_hp_cpu(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>* h);
template <class T>
void adam_step_hp_cuda(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamParams<T>* h, StreamHandle s);

}  // namespace leseg::kernels
