// SPDX-License-Identifier: Apache-2.0
// Declarations of the wide instruction-set copies of the fused CPU batch norm + ReLU body, for the dispatcher
// (batch_norm_relu_cpu.cpp):
// included with LESEG_ISA_NS set (isa_x86v3; kernels/common/isa.h).
namespace leseg::kernels::LESEG_ISA_NS::bn_relu {
template <class T>
void stats_partials(const T* x, int64_t N, int64_t C, const double* shift, int64_t chunks, double* part);
template <class T>
void forward(const T* x, const T* mean, const T* rstd, const T* w, const T* b, const T* r, T* y, int64_t N, int64_t C);
template <class T>
void backward_partials(const T* g, const T* y, const T* x, const T* mean, int64_t N, int64_t C, int64_t chunks,
                       double* part);
template <class T>
void backward_apply(const T* g, const T* y, const T* x, const T* mean, const T* rstd, const T* k1, const T* mg,
                    const T* mgx, const T* ke, int64_t N, int64_t C, bool training, T* dx, T* dres);
}  // namespace leseg::kernels::LESEG_ISA_NS::bn_relu
