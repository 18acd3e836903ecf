// SPDX-License-Identifier: Apache-2.0
// The x86-64-v3 (AVX2 + FMA) copy of the fused CPU batch norm + ReLU (kernels/common/isa.h): the build compiles
// this file with -march=x86-64-v3; batch_norm_relu_cpu.cpp calls it when cpu_isa() says so.
#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/batch_norm/batch_norm_relu_cpu_impl.h"

namespace leseg::kernels::isa_x86v3::bn_relu {
#define LESEG_INST(T)                                                                                             \
  template void stats_partials<T>(const T*, int64_t, int64_t, const double*, int64_t, double*);                 \
  template void forward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t);   \
  template void backward_partials<T>(const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, double*); \
  template void backward_apply<T>(const T*, const T*, const T*, const T*, const T*, const T*, const T*, const T*, \
                                  const T*, int64_t, int64_t, bool, T*, T*);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST
}  // namespace leseg::kernels::isa_x86v3::bn_relu
#endif
