// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/common/check.h"

#ifndef LESEG_ISA_X86V3
#define LESEG_ISA_X86V3 0
#endif
#ifndef LESEG_ISA_X86V4
#define LESEG_ISA_X86V4 0
#endif

namespace leseg::kernels {
namespace {

bool cpu_has_x86v3() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports("avx2") also checks that the OS enables the YMM state (XGETBV).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
         __builtin_cpu_supports("f16c") && __builtin_cpu_supports("movbe");
#else
  return false;
#endif
}

bool cpu_has_x86v4() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  // __builtin_cpu_supports("avx512f") also checks that the OS enables the opmask and ZMM state (XGETBV).
  return cpu_has_x86v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

CpuIsa from_env() {
  const char* e = std::getenv("LESEG_ISA");
  if (e == nullptr || *e == 0 || std::strcmp(e, "auto") == 0) {
    if (cpu_isa_available(CpuIsa::X86V4)) return CpuIsa::X86V4;
    return cpu_isa_available(CpuIsa::X86V3) ? CpuIsa::X86V3 : CpuIsa::Baseline;
  }
  if (std::strcmp(e, "baseline") == 0) return CpuIsa::Baseline;
  if (std::strcmp(e, "x86-64-v3") == 0 || std::strcmp(e, "avx2") == 0) {
    LESEG_KCHECK(cpu_isa_available(CpuIsa::X86V3), "LESEG_ISA=", e, ": the x86-64-v3 kernels are ",
                 cpu_isa_built(CpuIsa::X86V3) ? "built but this CPU lacks AVX2/FMA/BMI2/F16C" : "not built into this binary");
    return CpuIsa::X86V3;
  }
  if (std::strcmp(e, "x86-64-v4") == 0 || std::strcmp(e, "avx512") == 0) {
    LESEG_KCHECK(cpu_isa_available(CpuIsa::X86V4), "LESEG_ISA=", e, ": the x86-64-v4 kernels are ",
                 cpu_isa_built(CpuIsa::X86V4) ? "built but this CPU (or OS) lacks AVX-512 F/BW/CD/DQ/VL"
                                              : "not built into this binary");
    return CpuIsa::X86V4;
  }
  LESEG_KCHECK(false, "LESEG_ISA=", e, ": expected auto, baseline, x86-64-v3 or x86-64-v4");
  return CpuIsa::Baseline;
}

std::atomic<int>& slot() {
  static std::atomic<int> s{int(from_env())};
  return s;
}

}  // namespace

bool cpu_isa_built(CpuIsa isa) {
  return isa == CpuIsa::Baseline || (isa == CpuIsa::X86V3 && LESEG_ISA_X86V3) ||
         (isa == CpuIsa::X86V4 && LESEG_ISA_X86V4);
}
bool cpu_isa_available(CpuIsa isa) {
  if (isa == CpuIsa::Baseline) return true;
  static const bool v3 = LESEG_ISA_X86V3 && cpu_has_x86v3();
  static const bool v4 = LESEG_ISA_X86V4 && cpu_has_x86v4();
  return isa == CpuIsa::X86V3 ? v3 : isa == CpuIsa::X86V4 ? v4 : false;
}
CpuIsa cpu_isa() { return CpuIsa(slot().load(std::memory_order_relaxed)); }
void set_cpu_isa(CpuIsa isa) {
  LESEG_KCHECK(cpu_isa_available(isa), "set_cpu_isa(", cpu_isa_name(isa), "): not available on this machine/build");
  slot().store(int(isa), std::memory_order_relaxed);
}
const char* cpu_isa_name(CpuIsa isa) {
  return isa == CpuIsa::X86V4 ? "x86-64-v4" : isa == CpuIsa::X86V3 ? "x86-64-v3" : "baseline";
}
const char* cpu_isa_summary() {
  static const std::string s = [] {
    std::string r = std::string("cpu kernels: ") + cpu_isa_name(cpu_isa()) +
                    (cpu_isa() == CpuIsa::X86V4 ? " (AVX-512)" : cpu_isa() == CpuIsa::X86V3 ? " (AVX2+FMA)" : "") +
                    "; built: baseline";
    if (cpu_isa_built(CpuIsa::X86V3)) r += ", x86-64-v3";
    if (cpu_isa_built(CpuIsa::X86V4)) r += ", x86-64-v4";
    if (std::getenv("LESEG_ISA")) r += std::string("; LESEG_ISA=") + std::getenv("LESEG_ISA");
    return r;
  }();
  return s.c_str();
}

}  // namespace leseg::kernels
