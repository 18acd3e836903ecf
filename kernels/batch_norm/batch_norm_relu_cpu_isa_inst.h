// SPDX-License-Identifier: Apache-2.0
// Explicit instantiations of the fused CPU batch norm + ReLU body (batch_norm_relu_cpu_impl.h) for one wide
// instruction-set
// copy: included by batch_norm_relu_cpu_x86v3.cpp with LESEG_ISA_NS set (kernels/common/isa.h).
#include "kernels/batch_norm/batch_norm_relu_cpu_impl.h"

namespace leseg::kernels::LESEG_ISA_NS::bn_relu {
#define LESEG_INST(T)                                                                                             \
  template void stats_partials<T>(const T*, int64_t, int64_t, const double*, int64_t, double*);                 \
  template void forward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t);   \
  template void backward_partials<T>(const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, double*); \
  template void backward_apply<T>(const T*, const T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                  const T*, int64_t, int64_t, bool, T*, T*);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST
}  // namespace leseg::kernels::LESEG_ISA_NS::bn_relu
