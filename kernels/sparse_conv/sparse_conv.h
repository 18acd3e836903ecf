// SPDX-License-Identifier: Apache-2.0
// sparse_conv: convolution over a kernel map (kernels/kernel_map). defines: sparse_conv_{forward,backward}_{cpu,cuda}
//   x (n_in, C_in), w (V, C_in, C_out) (V = K^3, offset order in kernel_map_math.h), bias (C_out,) or null
//   y (n_out, C_out):  y[j] = bias + sum_k sum_{(i, j, k) in map} x[i] W[k]
// Gradients (from y = sum over pairs of x[i] W[k]):
//   gx[i]  = sum_{(i, j, k)} gy[j] W[k]^T        (the same map read with in/out swapped, W transposed)
//   gW[k]  = sum_{(i, j, k)} x[i]^T gy[j] = X_k^T G_k   (X_k, G_k: rows gathered for offset k)
//   gb     = sum_j gy[j]
// A transposed (up-sampling) conv is the same call with the map's in/out (and nbr_out/nbr_in) swapped.
//
// Variants (CONVENTIONS §7), all run in every test against the CPU twin:
//   GatherGemmScatter  per offset: gather rows -> GEMM (Eigen on CPU, cuBLAS on CUDA) -> scatter-add.
//   ImplicitGemm       CUDA only, fused output-stationary implicit GEMM: a block owns 32 output rows x 32
//                      output channels, loops over offsets and input-channel tiles, stages the gathered input
//                      rows and the weight tile in shared memory, writes each output once.
// Determinism: no variant uses float atomics. Within one offset each output row appears at most once, so the
// per-offset scatter is race-free, and offsets are applied in order k = 0..V-1; weight gradients are GEMMs
// per offset (CPU: per-thread partials over a static row split, summed in thread order; CUDA: row chunks
// accumulated in order with beta = 1); the bias gradient is a fixed-order column sum (double accumulation).
// Repeated runs give identical bits on CPU (for a given thread count) and on CUDA (given device and variant).
// Workspace: CPU sparse_conv_cpu_workspace_elems(...) elements of T; CUDA sparse_conv_cuda_workspace_bytes
// (per-offset pair lists are processed in row chunks, so both stay bounded at 1M voxels and C = 256).
// The CUDA GEMMs use a per-thread, per-device cuBLAS handle created on first use (cuBLAS' own small state).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

enum class ConvVariant : uint8_t { GatherGemmScatter = 0, ImplicitGemm = 1 };
constexpr ConvVariant kAllConvVariants[] = {ConvVariant::GatherGemmScatter, ConvVariant::ImplicitGemm};
inline const char* conv_variant_name(ConvVariant v) {
  return v == ConvVariant::GatherGemmScatter ? "gather_gemm_scatter" : "implicit_gemm";
}

// A kernel map as the conv sees it (pairs on the device of the data; offsets on the host).
struct ConvMap {
  const int32_t* in_idx = nullptr;   // (P,)
  const int32_t* out_idx = nullptr;  // (P,)
  const int64_t* offsets = nullptr;  // (V + 1,) host
  int64_t volume = 0;                // V
  const int32_t* nbr_out = nullptr;  // (V, n_out) input id or -1   (ImplicitGemm forward)
  const int32_t* nbr_in = nullptr;   // (V, n_in)  output id or -1  (ImplicitGemm input gradient)
  int64_t max_pairs() const {
    int64_t m = 0;
    for (int64_t k = 0; k < volume; ++k) m = offsets[k + 1] - offsets[k] > m ? offsets[k + 1] - offsets[k] : m;
    return m;
  }
};

// Bounded by the thread count, not by the number of pairs: per thread one row chunk (256 rows) of gathered
// inputs and products, plus one (C_in, C_out) weight-gradient partial.
int64_t sparse_conv_cpu_workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out);
template <class T>
void sparse_conv_forward_cpu(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                             int64_t c_in, int64_t c_out, T* y, T* workspace);
// gx, gw, gb may be null (not wanted); each is overwritten, not accumulated.
template <class T>
void sparse_conv_backward_cpu(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* workspace);

size_t sparse_conv_cuda_workspace_bytes(const ConvMap& m, int64_t c_in, int64_t c_out, size_t elem_size);
template <class T>
void sparse_conv_forward_cuda(ConvVariant v, const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in,
                              int64_t n_out, int64_t c_in, int64_t c_out, T* y, void* workspace, StreamHandle s);
template <class T>
void sparse_conv_backward_cuda(ConvVariant v, const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in,
                               int64_t n_out, int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, void* workspace,
                               StreamHandle s);

}  // namespace leseg::kernels
