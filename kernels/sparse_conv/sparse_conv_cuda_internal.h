// SPDX-License-Identifier: Apache-2.0
// Internal to kernels/sparse_conv/*.cu: the shared cuBLAS handle and the entry points of the grouped and
// tensor-core dataflows (sparse_conv_tc_cuda.cu), called by the variant switch in sparse_conv_cuda.cu.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg::kernels::detail {

// One cuBLAS handle per (host thread, device), bound to stream s, atomics not allowed. Returned as void* so this
// header needs no cuBLAS include.
void* sparse_conv_cublas_handle(StreamHandle s);

size_t grouped_workspace_bytes(const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in, int64_t c_out,
                               size_t elem_size);
template <class T>
void grouped_forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                     int64_t c_in, int64_t c_out, T* y, void* workspace, StreamHandle s, const ConvMath& math);
// gx via the grouped path unless skip_gx (the tensor-core variant computes gx itself).
template <class T>
void grouped_backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                      int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, void* workspace, StreamHandle s,
                      const ConvMath& math);
template <class T>
void tc_forward(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in,
                int64_t c_out, T* y, StreamHandle s, const ConvMath& math);
template <class T>
void tc_backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out, int64_t c_in,
                 int64_t c_out, T* gx, T* gw, T* gb, void* workspace, StreamHandle s, const ConvMath& math);

}  // namespace leseg::kernels::detail
