// SPDX-License-Identifier: Apache-2.0
// CPU twin vs CUDA for the sparse structure ops on bf16 / f16 features (engine/sparse/sparse_ops.h): the same bits
// for copies, maxima, the pools' averages and every gather (voxelize first, devoxelize nearest / trilinear, the voxel
// mean's backward: fmaf chains in the same order on both sides); within one half ulp for the scatters (voxel mean
// forward, trilinear backward: CUDA float atomicAdd, the order of the f32 sum is not fixed before its one rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/autograd.h"
#include "engine/sparse/sparse_ops.h"

using namespace leseg;

#define SKIP_WITHOUT_CUDA() \
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason()

namespace {
std::vector<uint16_t> bits(const Tensor& h) {
  Tensor c = h.to(Device::cpu()).clone();
  std::vector<uint16_t> out(size_t(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 2);
  return out;
}
void expect_same_bits(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  auto a = bits(gpu), b = bits(cpu);
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0, nonzero = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    nonzero += (b[i] & 0x7fff) != 0;
    if (a[i] != b[i] && ++bad <= 5) ADD_FAILURE() << what << "[" << i << "]: cuda bits " << a[i] << ", cpu " << b[i];
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_GT(nonzero, 0) << what << ": all-zero reference";
}
void expect_one_ulp(const Tensor& gpu, const Tensor& cpu, double scale, const std::string& what) {
  const double rel = cpu.dtype() == DType::bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
  auto g = gpu.to(Device::cpu()).to(DType::f64).to_vector<double>(), c = cpu.to(DType::f64).to_vector<double>();
  ASSERT_EQ(g.size(), c.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(std::fabs(g[i] - c[i]) <= rel * std::fabs(c[i]) + scale * std::ldexp(1.0, -20)) && ++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: cuda " << g[i] << ", cpu " << c[i];
  EXPECT_EQ(bad, 0) << what;
}
}  // namespace

TEST(SparseOpsHalfGpu, StructureOpsMatchCpuTwin) {
  SKIP_WITHOUT_CUDA();
  const int64_t n = 3000, C = 12;
  Tensor p = Tensor::rand(Shape{n, 3}, 1), f = Tensor::randn(Shape{n, C}, 2);
  std::vector<int32_t> bv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bv[size_t(i)] = int32_t(i % 3);
  Tensor b = Tensor::from_vector<int32_t>(bv, Shape{n});
  for (DType H : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(H));
    Tensor out[2][12];
    for (int dev = 0; dev < 2; ++dev) {
      const Device d = dev ? Device::cuda() : Device::cpu();
      Tensor fd = f.to(H).to(d).detach().requires_grad_();
      Voxelized v = voxelize(p.to(d), b.to(d), fd, 0.07);
      out[dev][0] = v.voxels.feats().detach();
      Voxelized first = voxelize(p.to(d), b.to(d), f.to(H).to(d), 0.07, VoxelReduce::First);
      out[dev][1] = first.voxels.feats();
      const int64_t m = v.voxels.size();
      Tensor gv = Tensor::randn(Shape{m, C}, 3).to(H).to(d);
      v.voxels.feats().backward(gv);
      out[dev][2] = fd.grad();
      // voxel features of their own (the means differ in the last bit between devices)
      Tensor xv = Tensor::randn(Shape{m, C}, 4).to(H).to(d).detach().requires_grad_();
      SparseTensor vox = v.voxels.with_feats(xv);
      out[dev][3] = devoxelize_nearest(vox, v.inverse);
      Tensor tri = devoxelize_trilinear(vox, p.to(d), b.to(d), 0.07);
      out[dev][4] = tri.detach();
      tri.backward(Tensor::randn(Shape{n, C}, 5).to(H).to(d));
      out[dev][5] = xv.grad();
      out[dev][6] = global_avg_pool(vox).detach();
      out[dev][7] = global_max_pool(vox).detach();
      out[dev][8] = sparse_cat(vox, vox.with_feats(xv.detach())).feats().detach();
      for (bool is_max : {false, true}) {
        Tensor x = xv.detach().requires_grad_();
        (is_max ? global_max_pool(vox.with_feats(x)) : global_avg_pool(vox.with_feats(x)))
            .backward(Tensor::randn(Shape{3, C}, 6).to(H).to(d));
        out[dev][9 + int(is_max)] = x.grad();
      }
      Tensor xa = xv.detach().requires_grad_();
      sparse_cat(vox.with_feats(xa), vox.with_feats(xv.detach())).feats().backward(
          Tensor::randn(Shape{m, 2 * C}, 7).to(H).to(d));
      out[dev][11] = xa.grad();
    }
    expect_one_ulp(out[1][0], out[0][0], 4.0, "voxelize mean (atomic scatter)");
    expect_same_bits(out[1][1], out[0][1], "voxelize first");
    expect_same_bits(out[1][2], out[0][2], "voxelize mean backward (gather)");
    expect_same_bits(out[1][3], out[0][3], "devoxelize nearest");
    expect_same_bits(out[1][4], out[0][4], "devoxelize trilinear (fmaf chain)");
    expect_one_ulp(out[1][5], out[0][5], 16.0, "devoxelize trilinear backward (atomic scatter)");
    expect_same_bits(out[1][6], out[0][6], "global avg pool");
    expect_same_bits(out[1][7], out[0][7], "global max pool");
    expect_same_bits(out[1][8], out[0][8], "sparse_cat");
    expect_same_bits(out[1][9], out[0][9], "global avg pool backward");
    expect_same_bits(out[1][10], out[0][10], "global max pool backward");
    expect_same_bits(out[1][11], out[0][11], "sparse_cat backward");
  }
}
