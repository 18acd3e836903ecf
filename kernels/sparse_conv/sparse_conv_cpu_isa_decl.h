// SPDX-License-Identifier: Apache-2.0
// Declarations of the wide instruction-set copies of the CPU sparse conv body, for the dispatcher
// (sparse_conv_cpu.cpp):
// included once per copy with LESEG_ISA_NS set (isa_x86v3, isa_x86v4; kernels/common/isa.h).
namespace leseg::kernels::LESEG_ISA_NS::sparse_conv {
template <class T>
void forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in,
             int64_t c_out, T* y, T* ws, int64_t os_rows);
template <class T>
void backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in,
              int64_t c_out, T* gx, T* gw, T* gb, T* ws, int64_t os_rows);
}  // namespace leseg::kernels::LESEG_ISA_NS::sparse_conv
