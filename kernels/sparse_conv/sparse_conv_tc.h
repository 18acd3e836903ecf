// SPDX-License-Identifier: Apache-2.0
// Support data of the tensor-core sparse conv (ConvVariant::TensorCoreImplicitGemm), with CPU twins:
//   morton_order: order (n,) i32 = row ids sorted (stably) by tc::morton_key of coords (n, 4) (b, x, y, z) at
//                 tensor stride `stride` (sparse_conv_tc_math.h). CPU == CUDA exactly (both stable sorts).
//   tile_masks:   masks (num_tiles(n_rows), mask_words(V)) u32: bit k of tile t = tc::tile_uses_offset(...).
// Low-precision CPU twins of the CUDA conv (engine/precision.h contract):
//   *_lowp_cpu<H>  (H = bf16_t / f16_t): inputs are already H; compute with the f32 CPU conv on the widened values,
//                  round each output once to H (what the GPU's f32-accumulate, one-store dataflows do).
//   *_tf32_cpu:    f32 tensors; x and w rounded to TF32 (round_to_tf32, as cvt.rna), f32 CPU conv, f32 output.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/half_math.h"
#include "kernels/sparse_conv/sparse_conv.h"
#include "kernels/sparse_conv/sparse_conv_tc_math.h"

namespace leseg::kernels {

void morton_order_cpu(const int32_t* coords, int64_t n, int32_t stride, int32_t* order);
void tile_masks_cpu(const int32_t* nbr, const int32_t* order, int64_t n_rows, int64_t volume, uint32_t* masks);

size_t morton_order_cuda_workspace_bytes(int64_t n);
void morton_order_cuda(const int32_t* coords, int64_t n, int32_t stride, int32_t* order, void* workspace,
                       size_t workspace_bytes, StreamHandle s);
void tile_masks_cuda(const int32_t* nbr, const int32_t* order, int64_t n_rows, int64_t volume, uint32_t* masks,
                     StreamHandle s);

template <class H>
void sparse_conv_forward_lowp_cpu(const H* x, const H* w, const H* bias, const ConvMap& m, int64_t n_in, int64_t n_out,
                                  int64_t c_in, int64_t c_out, H* y);
template <class H>
void sparse_conv_backward_lowp_cpu(const H* x, const H* w, const H* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                                   int64_t c_in, int64_t c_out, H* gx, H* gw, H* gb);
void sparse_conv_forward_tf32_cpu(const float* x, const float* w, const float* bias, const ConvMap& m, int64_t n_in,
                                  int64_t n_out, int64_t c_in, int64_t c_out, float* y);
void sparse_conv_backward_tf32_cpu(const float* x, const float* w, const float* gy, const ConvMap& m, int64_t n_in,
                                   int64_t n_out, int64_t c_in, int64_t c_out, float* gx, float* gw, float* gb);

// Times fn on the stream with CUDA events (fn enqueues work on s): milliseconds per call over `reps` calls after
// one warm-up call. Used by the engine's per-layer variant autotune.
float sparse_conv_time_cuda(void (*fn)(void*), void* ctx, int reps, StreamHandle s);
// Compute-capability major of the current device (the tensor-core variant needs 8+).
int sparse_conv_cuda_cc_major();

}  // namespace leseg::kernels
