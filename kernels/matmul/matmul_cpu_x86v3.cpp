// SPDX-License-Identifier: Apache-2.0
// The x86-64-v3 (AVX2 + FMA) copy of the CPU matmul (kernels/common/isa.h): compiled with -march=x86-64-v3 and
// Eigen renamed; matmul_cpu.cpp calls it when cpu_isa() says so.
#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/matmul/matmul_cpu_impl.h"

namespace leseg::kernels::isa_x86v3::matmul_impl {
template void matmul<float>(const float*, const float*, float*, const GemmShape&, float);
template void matmul<double>(const double*, const double*, double*, const GemmShape&, double);
}  // namespace leseg::kernels::isa_x86v3::matmul_impl
#endif
