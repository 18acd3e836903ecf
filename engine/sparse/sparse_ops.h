// SPDX-License-Identifier: Apache-2.0
// Autograd ops on SparseTensor (forward + backward closure side by side). Kernels: kernels/sparse_conv,
// kernels/kernel_map, kernels/coord_hash, kernels/voxelize, kernels/sparse_pool.
#pragma once
#include "engine/sparse/sparse_tensor.h"
#include "kernels/sparse_conv/sparse_conv.h"

namespace leseg {

using kernels::ConvVariant;

struct SparseConvOptions {
  int kernel_size = 3;   // 1..5 (offset order and anchors: kernels/kernel_map/kernel_map_math.h)
  int stride = 1;        // 1 (submanifold) or 2 (down-sampling; with transposed: up-sampling)
  int dilation = 1;      // 1..3
  bool transposed = false;
  ConvVariant variant = ConvVariant::GatherGemmScatter;  // CPU always runs the gather-GEMM-scatter twin
  // CUDA: choose the variant per shape class by timing (engine/sparse/conv_autotune.h). Also on when
  // set_conv_autotune(true) / LESEG_CONV_AUTOTUNE=1, or when `variant` cannot run the call's dtype (bf16/f16);
  // LESEG_CONV_VARIANT=<name> overrides everything.
  bool autotune = false;
};

// weight (K^3, C_in, C_out), bias (C_out,) or undefined. Precision (engine/precision.h): under bf16/f16 autocast the
// features, weight and bias are cast to the autocast dtype and the output is in it (f32 accumulation inside); in
// tf32 mode f32 GEMMs use TF32 (CPU: inputs rounded with round_to_tf32); otherwise all three share one dtype
// (f32, f64, bf16 or f16). Output coordinates:
//   stride 1:                   the input's coordinates (submanifold)
//   stride 2:                   unique(floor(c / (2 s)) * 2 s) at tensor stride 2 s (cached in the manager)
//   stride 2, transposed:       the stride s / 2 set of the manager (error if the tensor was not down-sampled
//                               from it); the map is the cached down-sampling map read backwards.
SparseTensor sparse_conv3d(const SparseTensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                           const SparseConvOptions& opt = {});

// Dtypes of the structure ops below (pools, sparse_cat, voxelize, devoxelize_*): features f32, f64, bf16 or f16,
// the output in the features' dtype. Half features compute in f32 (pool averages in double) with one rounding at
// the store (copies and maxima exact); the transfers' weights, and so the points, are f32 for half features.

// Per batch element over the active sites: (B, C). avg divides by the number of sites (0 rows -> 0);
// max takes the first maximal row (ties -> lowest row) and returns 0 for an empty batch element.
Tensor global_avg_pool(const SparseTensor& x);
Tensor global_max_pool(const SparseTensor& x);

// Skip connection: features of a and b side by side, (N, Ca + Cb); a and b must share one coordinate set.
SparseTensor sparse_cat(const SparseTensor& a, const SparseTensor& b);

enum class VoxelReduce : uint8_t { Mean, First };
struct Voxelized {
  SparseTensor voxels;  // unique voxels at stride 1; features reduced per voxel
  Tensor inverse;       // (N,) i32: voxel row of each point
  Tensor counts;        // (M,) i32: points per voxel
};
// points (N, 3) f32/f64 positions, batch (N,) i32, feats (N, C) (differentiable). Voxel of a point:
// floor(p / voxel_size) per axis (error naming the value when outside [-2^20, 2^20-1]). Voxel order = order of
// first occurrence.
Voxelized voxelize(const Tensor& points, const Tensor& batch, const Tensor& feats, double voxel_size,
                   VoxelReduce reduce = VoxelReduce::Mean);
// Point features from voxel features: (N, C) = x.feats()[inverse] (differentiable in x.feats()).
Tensor devoxelize_nearest(const SparseTensor& x, const Tensor& inverse);
// Trilinear (SPVCNN / torchsparse): u = p / (voxel_size * x.stride()) in voxel units; the 8 lattice corners
// floor(u) + {0,1}^3 (times the stride), weights prod(1 - |u - corner|); corners absent from x get weight 0 and
// the remaining weights are divided by their sum (all absent -> 0). Differentiable in x.feats().
Tensor devoxelize_trilinear(const SparseTensor& x, const Tensor& points, const Tensor& batch, double voxel_size);

}  // namespace leseg
