// SPDX-License-Identifier: Apache-2.0
// The x86-64-v3 (AVX2 + FMA) copy of the fused CPU batch norm + ReLU (kernels/common/isa.h): the build compiles
// this file with -march=x86-64-v3; batch_norm_relu_cpu.cpp calls it under x86-64-v3 and x86-64-v4 (no AVX-512
// copy: these loops are bandwidth-bound and the AVX-512 build of them was slower).
#if LESEG_ISA_X86V3
#define LESEG_ISA_NS isa_x86v3
#include "kernels/batch_norm/batch_norm_relu_cpu_isa_inst.h"
#endif
