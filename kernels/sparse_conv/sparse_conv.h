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
//   GroupedGemm        CUDA only (kernels/sparse_conv/sparse_conv_tc_cuda.cu): the pairs of all offsets are packed
//                      into a few row batches; per batch one vectorised gather, ONE grouped cuBLAS GEMM over every
//                      offset of the batch (f32 / TF32 / bf16 / f16 inputs, f32 products), one output-stationary
//                      reduction (each output row sums its offsets' products in order k = 0..V-1: no atomics).
//                      Weight gradient: grouped GEMMs into an f32 accumulator; bias gradient: a two-pass parallel
//                      column reduction (fixed tree, deterministic).
//   TensorCoreImplicitGemm  CUDA sm_80+ only: output-stationary implicit GEMM with mma.sync (bf16/f16 m16n8k16, tf32
//                      m16n8k8, f32 accumulate), rows in Morton order, per-tile offset bitmasks (mask split), bias
//                      (+ optional ReLU) epilogue; needs ConvMap::order_* and tile_mask_* (sparse_conv_tc.h). Its
//                      weight gradient is the GroupedGemm one. Index math: sparse_conv_tc_math.h.
// Types: f32 / f64 for the first two; GroupedGemm f32 / bf16 / f16 (f64 runs per-offset cuBLAS); the tensor-core
// variant bf16 / f16, and f32 computed in TF32 (the engine picks it only when TF32 is allowed).
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

enum class ConvVariant : uint8_t { GatherGemmScatter = 0, ImplicitGemm = 1, GroupedGemm = 2, TensorCoreImplicitGemm = 3 };
constexpr ConvVariant kAllConvVariants[] = {ConvVariant::GatherGemmScatter, ConvVariant::ImplicitGemm,
                                            ConvVariant::GroupedGemm, ConvVariant::TensorCoreImplicitGemm};
inline const char* conv_variant_name(ConvVariant v) {
  switch (v) {
    case ConvVariant::GatherGemmScatter: return "gather_gemm_scatter";
    case ConvVariant::ImplicitGemm: return "implicit_gemm";
    case ConvVariant::GroupedGemm: return "grouped_gemm";
    case ConvVariant::TensorCoreImplicitGemm: return "tensor_core_implicit_gemm";
  }
  return "?";
}

// Math switches of one CUDA call (engine/precision.h decides them; CPU twins: sparse_conv_lowp.h).
struct ConvMath {
  bool allow_tf32 = false;  // f32 GEMMs may use TF32 tensor cores (cuBLAS FAST_TF32; the tensor-core variant always)
  bool fuse_relu = false;   // TensorCoreImplicitGemm forward: y = max(0, conv + bias) in the epilogue
};

// A kernel map as the conv sees it (pairs on the device of the data; offsets on the host).
struct ConvMap {
  const int32_t* in_idx = nullptr;   // (P,)
  const int32_t* out_idx = nullptr;  // (P,)
  const int64_t* offsets = nullptr;  // (V + 1,) host
  int64_t volume = 0;                // V
  const int32_t* nbr_out = nullptr;  // (V, n_out) input id or -1   (ImplicitGemm forward)
  const int32_t* nbr_in = nullptr;   // (V, n_in)  output id or -1  (ImplicitGemm input gradient)
  // TensorCoreImplicitGemm only (sparse_conv_tc.h): Morton order of the output / input rows and the per-tile
  // offset bitmasks (num_tiles x ceil(V / 32) words) over nbr_out / nbr_in read in that order.
  const int32_t* order_out = nullptr;
  const int32_t* order_in = nullptr;
  const uint32_t* tile_mask_out = nullptr;
  const uint32_t* tile_mask_in = nullptr;
  int64_t max_pairs() const {
    int64_t m = 0;
    for (int64_t k = 0; k < volume; ++k) m = offsets[k + 1] - offsets[k] > m ? offsets[k + 1] - offsets[k] : m;
    return m;
  }
};

// Bounded by the thread count, not by the number of pairs: per thread one row chunk (256 rows) of gathered
// inputs and products, plus one (C_in, C_out) weight-gradient partial.
// (Covers forward and backward; the backward's output-stationary form adds 7 weight-gradient partials of V*C_in*C_out.)
int64_t sparse_conv_cpu_workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out);
// What the forward alone needs, and what the backward of this map with n_in input rows needs (both <= the above).
int64_t sparse_conv_cpu_forward_workspace_elems(const ConvMap& m, int64_t c_in, int64_t c_out);
int64_t sparse_conv_cpu_backward_workspace_elems(const ConvMap& m, int64_t n_in, int64_t c_in, int64_t c_out);
template <class T>
void sparse_conv_forward_cpu(const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                             int64_t c_in, int64_t c_out, T* y, T* workspace);
// gx, gw, gb may be null (not wanted); each is overwritten, not accumulated.
template <class T>
void sparse_conv_backward_cpu(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                              int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, T* workspace);

// Workspace of the first two variants (GatherGemmScatter / ImplicitGemm).
size_t sparse_conv_cuda_workspace_bytes(const ConvMap& m, int64_t c_in, int64_t c_out, size_t elem_size);
// Workspace of any variant (covers forward and backward).
size_t sparse_conv_cuda_variant_workspace_bytes(ConvVariant v, const ConvMap& m, int64_t n_in, int64_t n_out,
                                                int64_t c_in, int64_t c_out, size_t elem_size);
// T: float, double, f16_t, bf16_t (which variant takes which: above; a wrong pair throws invalid_argument).
template <class T>
void sparse_conv_forward_cuda(ConvVariant v, const T* x, const T* w, const T* bias, const ConvMap& m, int64_t n_in,
                              int64_t n_out, int64_t c_in, int64_t c_out, T* y, void* workspace, StreamHandle s,
                              const ConvMath& math = {});
template <class T>
void sparse_conv_backward_cuda(ConvVariant v, const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in,
                               int64_t n_out, int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, void* workspace,
                               StreamHandle s, const ConvMath& math = {});

}  // namespace leseg::kernels
