// SPDX-License-Identifier: Apache-2.0
// Explicit instantiations of the CPU matmul body (matmul_cpu_impl.h) for one wide instruction-set
// copy: included by matmul_cpu_x86v3.cpp and _x86v4.cpp with LESEG_ISA_NS set (kernels/common/isa.h).
#include "kernels/matmul/matmul_cpu_impl.h"

namespace leseg::kernels::LESEG_ISA_NS::matmul_impl {
template void matmul<float>(const float*, const float*, float*, const GemmShape&, float);
template void matmul<double>(const double*, const double*, double*, const GemmShape&, double);
}  // namespace leseg::kernels::LESEG_ISA_NS::matmul_impl
