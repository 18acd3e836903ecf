// SPDX-License-Identifier: Apache-2.0
// CPU instruction-set paths of the hot CPU kernels (run-time dispatch).
// A kernel that is worth vectorising wider than the build's baseline (x86-64: SSE2) keeps its body in an
// <op>_cpu_impl.h included twice: by <op>_cpu.cpp inside namespace isa_baseline (the build's flags) and by
// <op>_cpu_x86v3.cpp inside namespace isa_x86v3, a file the build compiles with -march=x86-64-v3 (AVX2, FMA,
// BMI2, F16C; cmake/LesegHelpers.cmake: every kernels/**/*_x86v3.cpp) and with Eigen's namespace renamed
// (-DEigen=leseg_eigen_x86v3), so that no inline or template code compiled for AVX2 shares a symbol with the
// baseline copy (the linker could otherwise pick the AVX2 copy for the baseline path). The public entry point
// in <op>_cpu.cpp asks cpu_isa() which copy to call.
// A third copy, <op>_cpu_x86v4.cpp, is compiled with -march=x86-64-v4 (AVX-512 F/BW/CD/DQ/VL) in namespace
// isa_x86v4 (Eigen renamed leseg_eigen_x86v4): Eigen's GEMM kernel with 32 zmm registers runs 1.7-1.9x the AVX2
// one at the conv's shapes on a CPU with full-width AVX-512 (docs/cpu-performance.md).
//   cpu_isa(): X86V4 when that copy was built and the CPU has AVX-512 F/BW/CD/DQ/VL with the OS saving the ZMM
//   state, else X86V3 when that copy was built and the CPU has AVX2 + FMA + BMI2 + F16C (and the OS saves the
//   YMM state), else Baseline. LESEG_ISA=baseline forces the baseline copy (tests, comparisons);
//   LESEG_ISA=x86-64-v3 / x86-64-v4 ask for a wide copy and fail clearly where it cannot run; LESEG_ISA=auto
//   (default) picks the widest available.
//   Read once, at first use; set_cpu_isa() overrides it (tests).
// Numerics: the copies differ only in vector width and FMA contraction (float results differ in the last bits;
// both stay deterministic for a given thread count).
#pragma once

namespace leseg::kernels {

enum class CpuIsa { Baseline = 0, X86V3 = 1, X86V4 = 2 };

CpuIsa cpu_isa();
void set_cpu_isa(CpuIsa isa);      // fails (LESEG_KCHECK) when that path is not available here
bool cpu_isa_available(CpuIsa isa);  // built into this binary and supported by this CPU
bool cpu_isa_built(CpuIsa isa);      // built into this binary
const char* cpu_isa_name(CpuIsa isa);  // "baseline" | "x86-64-v3" | "x86-64-v4"
// One line for `leseg --version`: "cpu kernels: x86-64-v4 (AVX-512); built: baseline, x86-64-v3, x86-64-v4".
const char* cpu_isa_summary();

}  // namespace leseg::kernels
