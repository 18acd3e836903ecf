// SPDX-License-Identifier: Apache-2.0
// Explicit instantiations of the CPU sparse conv body (sparse_conv_cpu_impl.h) for one wide instruction-set
// copy: included by sparse_conv_cpu_x86v3.cpp and _x86v4.cpp with LESEG_ISA_NS set (kernels/common/isa.h).
#include "kernels/sparse_conv/sparse_conv_cpu_impl.h"

namespace leseg::kernels::LESEG_ISA_NS::sparse_conv {
#define LESEG_INST(T)                                                                                             \
  template void forward<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t, int64_t, int64_t, T*, \
                           T*, int64_t);                                                                                  \
  template void backward<T>(const T*, const T*, const T*, const ConvMap&, int64_t, int64_t, int64_t, int64_t, T*, \
                            T*, T*, T*, int64_t);
LESEG_INST(float)
LESEG_INST(double)
#undef LESEG_INST
}  // namespace leseg::kernels::LESEG_ISA_NS::sparse_conv
