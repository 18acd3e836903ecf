// SPDX-License-Identifier: Apache-2.0
// CPU-vs-CUDA parity of the backbones: MinkUNet14A and SPVCNN forward + parameter gradients, the transformer
// encoder forward. Same weights (seeded init, moved with Module::to), same inputs; element-wise tolerance
// (the CUDA convs sum offsets in the same order but GEMM blocking differs: f32 round-off only).
#include <gtest/gtest.h>

#include <set>

#include "engine/device.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "models/registry.h"
#include "models/spvcnn.h"
#include "models/transformer.h"
#include "tests/models/tiny_inputs.h"

namespace leseg::models {
namespace {

void expect_close(const Tensor& cpu, const Tensor& gpu, double atol, double rtol, const std::string& what) {
  const auto a = cpu.to(DType::f64).to_vector<double>();
  const auto b = gpu.to(Device::cpu()).to(DType::f64).to_vector<double>();
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(a[i] - b[i]) <= atol + rtol * std::abs(a[i])) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: cpu " << a[i] << " cuda " << b[i];
  EXPECT_EQ(bad, 0) << what;
  EXPECT_GT(leseg::testing::max_abs(cpu), 0.0) << what << " is all zero";
}

TEST(ModelsGpu, MinkUNet14AParity) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  Tensor coords = leseg::testing::tiny_coords(120);
  Tensor feats = Tensor::randn(Shape{coords.size(0), 3}, 3);
  Tensor r;
  std::vector<std::vector<Tensor>> grads(2);
  std::vector<Tensor> outs;
  for (int d = 0; d < 2; ++d) {
    const Device dev = d == 0 ? Device::cpu() : Device::cuda();
    Backbone b = create_backbone("MinkUNet14A");
    b.module->to(dev);
    SparseTensor x(coords.to(dev), feats.to(dev));
    SparseTensor y = b.minkunet->forward(x);
    if (!r.defined()) r = Tensor::randn(y.feats().shape(), 9);
    sum(mul(y.feats(), r.to(dev))).backward();
    outs.push_back(y.feats());
    for (const auto& p : b.module->parameters()) grads[d].push_back(p.grad());
  }
  expect_close(outs[0], outs[1], 1e-4, 1e-3, "MinkUNet14A output");
  for (size_t i = 0; i < grads[0].size(); ++i)
    expect_close(grads[0][i], grads[1][i], 1e-3, 1e-2, "gradient " + std::to_string(i));
}

// SPVCNN forward and backward on CUDA against the CPU twin: per-point outputs and every parameter's gradient
// (voxelize / devoxelize, the point branch and the strided sparse convs, same seeded weights on both sides).
TEST(ModelsGpu, SPVCNNParity) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  SPVCNNConfig c;
  c.in_channels = 4;
  c.voxel_size = 0.1;
  c.seed = 2;
  leseg::testing::Points in = leseg::testing::tiny_points(90, 4, 0.1);
  Tensor r;
  std::vector<Tensor> outs;
  std::vector<std::vector<std::pair<std::string, Tensor>>> grads(2);
  for (int d = 0; d < 2; ++d) {
    const Device dev = d == 0 ? Device::cpu() : Device::cuda();
    SPVCNN net(c);
    net.to(dev);
    Tensor y = net.forward(in.points.to(dev), in.batch.to(dev), in.feats.to(dev));
    if (!r.defined()) r = Tensor::randn(y.shape(), 5);
    sum(mul(y, r.to(dev))).backward();
    outs.push_back(y);
    for (const auto& [name, p] : net.named_parameters()) grads[d].emplace_back(name, p.grad());
  }
  ASSERT_TRUE(outs[1].device().is_cuda());
  expect_close(outs[0], outs[1], 1e-4, 1e-3, "SPVCNN output");
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i)
    expect_close(grads[0][i].second, grads[1][i].second, 1e-3, 1e-2, "gradient of " + grads[0][i].first);
}

// point_voxel_index on CUDA is composed on the device from the cached maps (no host copy): the same indices as the
// CPU spec at every stride.
TEST(ModelsGpu, SPVCNNPointVoxelIndexOnTheDevice) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  SPVCNNConfig c;
  c.in_channels = 4;
  c.voxel_size = 0.1;
  c.seed = 2;
  leseg::testing::Points in = leseg::testing::tiny_points(90, 4, 0.1);
  std::vector<std::vector<int64_t>> idx[2];
  for (int d = 0; d < 2; ++d) {
    const Device dev = d == 0 ? Device::cpu() : Device::cuda();
    SPVCNN net(c);
    net.to(dev);
    Voxelized vox = voxelize(in.points.to(dev), in.batch.to(dev), in.feats.to(dev), 0.1, VoxelReduce::Mean);
    net.forward(vox, in.points.to(dev), in.batch.to(dev));
    for (int32_t s : {1, 2, 4, 8, 16})
      idx[d].push_back(point_voxel_index(*vox.voxels.manager(), vox.inverse, s).to_vector<int64_t>());
  }
  EXPECT_EQ(idx[0], idx[1]);
  leseg::check_device_errors(Device::cuda());
}

TEST(ModelsGpu, TransformerParity) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  TransformerConfig c;
  c.dim = 64;
  c.heads = 2;  // head dim 32 (the CUDA kernel takes 16/32/64/128)
  c.layers = 2;
  Tensor x = Tensor::randn(Shape{37, 64}, 1), xyz = Tensor::randn(Shape{37, 3}, 2);
  Tensor off = Tensor::from_vector(std::vector<int64_t>{0, 13, 37}, Shape{3});
  TransformerEncoder a(c), b(c);
  b.to(Device::cuda());
  Tensor ya = a.forward(x, xyz, off);
  Tensor yb = b.forward(x.to(Device::cuda()), xyz.to(Device::cuda()), off);
  expect_close(ya, yb, 1e-4, 1e-3, "transformer output");
}

}  // namespace
}  // namespace leseg::models
