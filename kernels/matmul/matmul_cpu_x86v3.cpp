// SPDX-License-Identifier: Apache-2.0
// The x86-64-v3 (AVX2 + FMA) copy of the CPU matmul (kernels/common/isa.h): the build compiles this file with
// -march=x86-64-v3 and Eigen renamed; matmul_cpu.cpp calls it when cpu_isa() says so.
#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/matmul/matmul_cpu_isa_inst.h"
#endif
