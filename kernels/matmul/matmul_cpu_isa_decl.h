// SPDX-License-Identifier: Apache-2.0
// Declarations of the wide instruction-set copies of the CPU matmul body, for the dispatcher (matmul_cpu.cpp):
// included once per copy with LESEG_ISA_NS set (isa_x86v3, isa_x86v4; kernels/common/isa.h).
namespace leseg::kernels::LESEG_ISA_NS::matmul_impl {
template <class T>
void matmul(const T* a, const T* b, T* c, const GemmShape& s, T beta);
}  // namespace leseg::kernels::LESEG_ISA_NS::matmul_impl
