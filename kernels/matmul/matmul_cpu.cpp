// SPDX-License-Identifier: Apache-2.0
// CPU matmul: the entry point checks the shape and calls the copy of the body (matmul_cpu_impl.h) built for
// the instruction set cpu_isa() picks (kernels/common/isa.h).
#include "kernels/common/check.h"
#include "kernels/common/isa.h"
#include "kernels/matmul/matmul.h"

#define LESEG_ISA_NS isa_baseline
#include "kernels/matmul/matmul_cpu_impl.h"
#undef LESEG_ISA_NS

#if LESEG_ISA_X86V3
namespace leseg::kernels::isa_x86v3::matmul_impl {
template <class T>
void matmul(const T* a, const T* b, T* c, const GemmShape& s, T beta);
}  // namespace leseg::kernels::isa_x86v3::matmul_impl
#endif

namespace leseg::kernels {

template <class T>
void matmul_cpu(const T* a, const T* b, T* c, const GemmShape& s, T beta) {
  LESEG_KCHECK(s.batch >= 0 && s.m >= 0 && s.n >= 0 && s.k >= 0, "matmul: negative size");
#if LESEG_ISA_X86V3
  if (cpu_isa() == CpuIsa::X86V3) return isa_x86v3::matmul_impl::matmul<T>(a, b, c, s, beta);
#endif
  isa_baseline::matmul_impl::matmul<T>(a, b, c, s, beta);
}

template void matmul_cpu<float>(const float*, const float*, float*, const GemmShape&, float);
template void matmul_cpu<double>(const double*, const double*, double*, const GemmShape&, double);

}  // namespace leseg::kernels
