// SPDX-License-Identifier: Apache-2.0
// Harness cases for the sparse ops (engine/sparse/sparse_ops.h): the coordinates are fixed constants built on
// the inputs' device (negative values, two batch elements, isolated points), the harness perturbs features,
// weights, biases. Inputs stay small (<= ~150 elements): 2 forwards per element in the gradient check.
#include "engine/sparse/sparse_ops.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {

// 13 unique sites: a small blob, its neighbours, isolated points, two batch elements.
const std::vector<int32_t> kCoords = {0, 0, 0, 0,  0, 1, 0, 0,  0, 0, 1, 0,  0, 1, 1, 1,  0, -1, 0, -1, 0, -3, 2, 5,
                                      0, 2, 2, 2,  1, 0, 0, 0,  1, 0, 0, 1,  1, -1, -1, -1, 1, 3, 3, 3, 1, 2, 3, 3,
                                      1, -2, 0, 1};
constexpr int64_t kN = 13;

SparseTensor sites(const Tensor& feats) {
  return SparseTensor(Tensor::from_vector<int32_t>(kCoords, Shape{kN, 4}, feats.device()), feats);
}
SparseConvOptions conv(int K, int stride, int dil, bool transposed, ConvVariant v = ConvVariant::GatherGemmScatter) {
  SparseConvOptions o;
  o.kernel_size = K;
  o.stride = stride;
  o.dilation = dil;
  o.transposed = transposed;
  o.variant = v;
  return o;
}
// Points with their batch ids (fixed), inside the voxels of kCoords at voxel size 0.5 and around them.
Tensor points(DType t, Device d) {
  std::vector<double> p = {0.1, 0.2, 0.3,  0.35, 0.05, 0.45, 0.6, 0.1, 0.2,  -0.2, 0.1, -0.4,  0.9, 0.9, 0.9,
                           0.2, 0.3, 0.1,  0.45, 0.45, 0.05, 1.2, 1.3, 1.4,  -0.6, 0.2, 0.1,  0.7, 0.2, 0.3};
  return Tensor::from_vector<double>(p, Shape{10, 3}).to(t).to(d);
}
Tensor point_batch(Device d) { return Tensor::from_vector<int32_t>({0, 0, 0, 0, 0, 1, 1, 1, 1, 0}, Shape{10}, d); }

const int r = register_cases({
    OpCase{"sparse_conv3d", "submanifold_k3_bias",
           {{Shape{kN, 2}}, {Shape{27, 2, 2}}, {Shape{2}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{sparse_conv3d(sites(in[0]), in[1], in[2], conv(3, 1, 1, false)).feats()};
           }},
    OpCase{"sparse_conv3d", "submanifold_k3_implicit_gemm",
           {{Shape{kN, 3}}, {Shape{27, 3, 1}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{
                 sparse_conv3d(sites(in[0]), in[1], Tensor(), conv(3, 1, 1, false, ConvVariant::ImplicitGemm)).feats()};
           }},
    OpCase{"sparse_conv3d", "dilation2_k2",
           {{Shape{kN, 2}}, {Shape{8, 2, 3}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{sparse_conv3d(sites(in[0]), in[1], Tensor(), conv(2, 1, 2, false)).feats()};
           }},
    OpCase{"sparse_conv3d", "strided_k3",
           {{Shape{kN, 1}}, {Shape{27, 1, 3}}, {Shape{3}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{sparse_conv3d(sites(in[0]), in[1], in[2], conv(3, 2, 1, false)).feats()};
           }},
    OpCase{"sparse_conv3d", "transposed_k2",
           {{Shape{kN, 2}}, {Shape{8, 2, 2}}, {Shape{8, 2, 3}}},
           [](const std::vector<Tensor>& in) {
             SparseTensor down = sparse_conv3d(sites(in[0]), in[1], Tensor(), conv(2, 2, 1, false));
             return std::vector<Tensor>{sparse_conv3d(down, in[2], Tensor(), conv(2, 2, 1, true)).feats()};
           }},
    OpCase{"sparse_conv3d", "transposed_k2_implicit_gemm",
           {{Shape{kN, 2}}, {Shape{8, 2, 2}}, {Shape{8, 2, 3}}},
           [](const std::vector<Tensor>& in) {
             const auto v = ConvVariant::ImplicitGemm;
             SparseTensor down = sparse_conv3d(sites(in[0]), in[1], Tensor(), conv(2, 2, 1, false, v));
             return std::vector<Tensor>{sparse_conv3d(down, in[2], Tensor(), conv(2, 2, 1, true, v)).feats()};
           }},
    OpCase{"global_avg_pool", "two_batches",
           {{Shape{kN, 3}}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{global_avg_pool(sites(in[0]))}; }},
    OpCase{"global_max_pool", "two_batches_distinct",
           {{Shape{kN, 3}, Gen::Distinct}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{global_max_pool(sites(in[0]))}; }},
    OpCase{"sparse_cat", "skip_connection",
           {{Shape{kN, 2}}, {Shape{kN, 3}}},
           [](const std::vector<Tensor>& in) {
             SparseTensor a = sites(in[0]);
             return std::vector<Tensor>{sparse_cat(a, a.with_feats(in[1])).feats()};
           }},
    OpCase{"voxelize", "mean",
           {{Shape{10, 3}}},
           [](const std::vector<Tensor>& in) {
             const Device d = in[0].device();
             return std::vector<Tensor>{
                 voxelize(points(in[0].dtype(), d), point_batch(d), in[0], 0.5, VoxelReduce::Mean).voxels.feats()};
           }},
    OpCase{"voxelize", "first",
           {{Shape{10, 2}}},
           [](const std::vector<Tensor>& in) {
             const Device d = in[0].device();
             return std::vector<Tensor>{
                 voxelize(points(in[0].dtype(), d), point_batch(d), in[0], 0.5, VoxelReduce::First).voxels.feats()};
           }},
    OpCase{"devoxelize_nearest", "points_to_voxels",
           {{Shape{kN, 3}}},
           [](const std::vector<Tensor>& in) {
             const Device d = in[0].device();
             Tensor inv = Tensor::from_vector<int32_t>({0, 3, 3, 12, 7, 7, 0, 5}, Shape{8}, d);
             return std::vector<Tensor>{devoxelize_nearest(sites(in[0]), inv)};
           }},
    OpCase{"devoxelize_trilinear", "missing_corners_renormalised",
           {{Shape{kN, 2}}},
           [](const std::vector<Tensor>& in) {
             const Device d = in[0].device();
             return std::vector<Tensor>{devoxelize_trilinear(sites(in[0]), points(in[0].dtype(), d), point_batch(d), 1.0)};
           }},
});

}  // namespace
}  // namespace leseg::testing
