// SPDX-License-Identifier: Apache-2.0
// The x86-64-v4 (AVX-512) copy of the fused CPU batch norm + ReLU (kernels/common/isa.h): the build compiles this file with
// -march=x86-64-v4 and Eigen renamed; batch_norm_relu_cpu.cpp calls it when cpu_isa() says so.
#if LESEG_ISA_X86V4
#define LESEG_ISA_NS isa_x86v4
#include "kernels/batch_norm/batch_norm_relu_cpu_isa_inst.h"
#endif
