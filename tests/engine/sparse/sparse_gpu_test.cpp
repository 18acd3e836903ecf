// SPDX-License-Identifier: Apache-2.0
// CPU twin vs CUDA: coordinate ids, kernel maps, every ConvVariant (output and all gradients, integer inputs so
// the comparison is exact up to f32 rounding), determinism on the device, voxelize/devoxelize/pools/cat.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dense_oracle.h"
#include "engine/autograd.h"
#include "engine/determinism.h"
#include "engine/sparse/sparse_ops.h"

using namespace leseg;
using namespace leseg::testing;

#define SKIP_WITHOUT_CUDA() \
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason()

namespace {
void expect_close(const std::vector<double>& got, const std::vector<double>& ref, double atol, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero |= ref[i] != 0;
    if (!(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i])) && ++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: cuda " << got[i] << ", cpu " << ref[i];
  }
  EXPECT_EQ(bad, 0) << what;
  if (!ref.empty()) {
    EXPECT_TRUE(nonzero) << what << ": all-zero reference";
  }
}
Tensor ints(int64_t n, Shape s, uint64_t seed) { return Tensor::from_vector<double>(random_ints(n, seed), s).to(DType::f32); }
}  // namespace

TEST(SparseGpu, CoordinateIdsAndMapsMatchCpu) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(3, 12, 0.2, 1, 5);
  const int64_t n = int64_t(coords.size() / 4);
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  SparseTensor cpu(c, Tensor::zeros(Shape{n, 1}));
  SparseTensor gpu(c.to(Device::cuda()), Tensor::zeros(Shape{n, 1}, DType::f32, Device::cuda()));
  for (int K : {2, 3, 5})
    for (int32_t out_stride : {1, 2}) {
      if (out_stride == 2 && K == 5) continue;
      auto a = cpu.manager()->kernel_map(1, out_stride, K, 1);
      auto b = gpu.manager()->kernel_map(1, out_stride, K, 1);
      EXPECT_EQ(a->offsets, b->offsets);
      EXPECT_EQ(a->in_idx.to_vector<int32_t>(), b->in_idx.to_vector<int32_t>());
      EXPECT_EQ(a->out_idx.to_vector<int32_t>(), b->out_idx.to_vector<int32_t>());
    }
  EXPECT_EQ(cpu.manager()->find(2)->coords.to_vector<int32_t>(), gpu.manager()->find(2)->coords.to_vector<int32_t>());
}

TEST(SparseGpu, ConvVariantsMatchCpuTwin) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(2, 10, 0.25, 1, 6);
  const int64_t n = int64_t(coords.size() / 4);
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  const int64_t ci = 37, co = 45;  // not multiples of the 32-wide tiles
  Tensor x0 = ints(n * ci, Shape{n, ci}, 1);
  struct Mode { SparseConvOptions opt; const char* name; };
  // {kernel, stride, dilation, transposed}: submanifold K 3/5 (also dilated), strided K 2/3/5, transposed K 2.
  for (const Mode& md : {Mode{{3, 1, 1, false}, "subm3"}, Mode{{5, 1, 1, false}, "subm5"},
                         Mode{{3, 1, 2, false}, "subm3_dil2"}, Mode{{5, 1, 2, false}, "subm5_dil2"},
                         Mode{{2, 2, 1, false}, "down2"}, Mode{{3, 2, 1, false}, "down3"},
                         Mode{{5, 2, 1, false}, "down5"}, Mode{{2, 2, 1, true}, "up2"}})
    for (ConvVariant v : kernels::kAllConvVariants) {
      SCOPED_TRACE(std::string(md.name) + " " + kernels::conv_variant_name(v));
      SparseConvOptions opt = md.opt;
      opt.variant = v;
      const int64_t V = int64_t(opt.kernel_size) * opt.kernel_size * opt.kernel_size;
      Tensor w0 = ints(V * ci * co, Shape{V, ci, co}, 2), b0 = ints(co, Shape{co}, 3);
      std::vector<double> out[2], gx[2], gw[2], gb[2];
      for (int dev = 0; dev < 2; ++dev) {
        const Device d = dev ? Device::cuda() : Device::cpu();
        SparseTensor base(c.to(d), Tensor::zeros(Shape{n, ci}, DType::f32, d));
        SparseTensor in = base;
        if (opt.transposed) {
          SparseTensor down = sparse_conv3d(base.with_feats(x0.to(d)), ints(8 * ci * ci, Shape{8, ci, ci}, 4).to(d),
                                            Tensor(), SparseConvOptions{2, 2, 1, false});
          in = down.with_feats(ints(down.size() * ci, Shape{down.size(), ci}, 5).to(d));
        }
        Tensor x = (opt.transposed ? in.feats() : x0.to(d)).detach().requires_grad_();
        Tensor w = w0.to(d).detach().requires_grad_(), b = b0.to(d).detach().requires_grad_();
        SparseTensor y = sparse_conv3d(in.with_feats(x), w, b, opt);
        y.feats().backward(ints(y.feats().numel(), y.feats().shape(), 6).to(d));
        out[dev] = y.feats().to_vector<double>();
        gx[dev] = x.grad().to_vector<double>();
        gw[dev] = w.grad().to_vector<double>();
        gb[dev] = b.grad().to_vector<double>();
      }
      // integer inputs: every product and partial sum is an integer below 2^24, exact in f32 in any order
      expect_close(out[1], out[0], 0, 0, "y");
      expect_close(gx[1], gx[0], 0, 0, "grad x");
      expect_close(gw[1], gw[0], 0, 0, "grad w");
      expect_close(gb[1], gb[0], 0, 0, "grad b");
    }
}

// Production scale: ~1M voxels (two scenes of 170^3 at 10 % occupancy), so every submanifold offset has far more
// than the 65,536 pairs one gather-GEMM-scatter chunk takes (the chunked path, its workspace reuse and the beta = 1
// accumulation of the weight gradient), and the implicit GEMM sees ~1M output rows. Integer inputs keep every
// product and partial sum exact in f32, so CPU twin and CUDA agree bit for bit whatever the summation order.
TEST(SparseGpu, MillionVoxelConvMatchesCpuTwin) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(2, 170, 0.1, 1, 11);
  const int64_t n = int64_t(coords.size() / 4);
  ASSERT_GT(n, 900000);
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  const int64_t ci = 16, co = 16;
  Tensor x0 = ints(n * ci, Shape{n, ci}, 21), w0 = ints(27 * ci * co, Shape{27, ci, co}, 22);
  Tensor gy = ints(n * co, Shape{n, co}, 23);
  auto run = [&](Device d, ConvVariant v, std::vector<double>* y, std::vector<double>* gx, std::vector<double>* gw) {
    SparseTensor in(c.to(d), Tensor::zeros(Shape{n, ci}, DType::f32, d));
    Tensor x = x0.to(d).requires_grad_(), w = w0.to(d).requires_grad_();
    SparseTensor out = sparse_conv3d(in.with_feats(x), w, Tensor(), {3, 1, 1, false, v});
    out.feats().backward(gy.to(d));
    *y = out.feats().to_vector<double>();
    *gx = x.grad().to_vector<double>();
    *gw = w.grad().to_vector<double>();
  };
  std::vector<double> y0, gx0, gw0;
  run(Device::cpu(), ConvVariant::GatherGemmScatter, &y0, &gx0, &gw0);
  auto pairs = SparseTensor(c, Tensor::zeros(Shape{n, 1})).manager()->kernel_map(1, 1, 3, 1);
  EXPECT_GT(pairs->in_idx.numel() / 27, 65536) << "the chunked path needs > 65,536 pairs per offset on average";
  for (ConvVariant v : kernels::kAllConvVariants) {
    SCOPED_TRACE(kernels::conv_variant_name(v));
    std::vector<double> y, gx, gw;
    run(Device::cuda(), v, &y, &gx, &gw);
    expect_close(y, y0, 0, 0, "y");
    expect_close(gx, gx0, 0, 0, "grad x");
    expect_close(gw, gw0, 0, 0, "grad w");
  }
}

TEST(SparseGpu, ConvDeterministicBitsOnDevice) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(2, 14, 0.2, 1, 7);
  const int64_t n = int64_t(coords.size() / 4);
  const Device d = Device::cuda();
  SparseTensor x(Tensor::from_vector<int32_t>(coords, Shape{n, 4}).to(d), Tensor::randn(Shape{n, 32}, 1).to(d));
  for (ConvVariant v : kernels::kAllConvVariants) {
    SCOPED_TRACE(kernels::conv_variant_name(v));
    std::vector<float> y0, g0;
    for (int rep = 0; rep < 3; ++rep) {
      Tensor w = Tensor::randn(Shape{27, 32, 48}, 2).to(d).requires_grad_();
      Tensor xf = x.feats().detach().requires_grad_();
      SparseTensor y = sparse_conv3d(x.with_feats(xf), w, Tensor(), {3, 1, 1, false, v});
      y.feats().backward(Tensor::randn(y.feats().shape(), 3).to(d));
      auto yv = y.feats().to_vector<float>();
      auto gv = xf.grad().to_vector<float>();
      auto wv = w.grad().to_vector<float>();
      gv.insert(gv.end(), wv.begin(), wv.end());
      if (rep == 0) {
        y0 = yv;
        g0 = gv;
      } else {
        EXPECT_EQ(0, std::memcmp(yv.data(), y0.data(), yv.size() * 4));
        EXPECT_EQ(0, std::memcmp(gv.data(), g0.data(), gv.size() * 4));
      }
    }
  }
}

TEST(SparseGpu, VoxelizePoolsCatMatchCpu) {
  SKIP_WITHOUT_CUDA();
  const int64_t n = 2000;
  Tensor p = Tensor::rand(Shape{n, 3}, 1), f = Tensor::randn(Shape{n, 4}, 2);
  std::vector<int32_t> bv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bv[size_t(i)] = int32_t(i % 3);
  Tensor b = Tensor::from_vector<int32_t>(bv, Shape{n});
  std::vector<double> r[2][8];
  for (int dev = 0; dev < 2; ++dev) {
    const Device d = dev ? Device::cuda() : Device::cpu();
    Tensor fd = f.to(d).detach().requires_grad_();
    Voxelized v = voxelize(p.to(d), b.to(d), fd, 0.07);
    r[dev][0] = v.voxels.feats().to_vector<double>();
    r[dev][1] = v.inverse.to_vector<double>();
    Tensor near = devoxelize_nearest(v.voxels, v.inverse);
    Tensor tri = devoxelize_trilinear(v.voxels, p.to(d), b.to(d), 0.07);
    r[dev][2] = tri.to_vector<double>();
    r[dev][3] = global_avg_pool(v.voxels).to_vector<double>();
    r[dev][4] = global_max_pool(v.voxels).to_vector<double>();
    r[dev][5] = sparse_cat(v.voxels, v.voxels).feats().to_vector<double>();
    r[dev][7] = near.to_vector<double>();
    tri.backward(Tensor::ones(tri.shape()).to(d));
    r[dev][6] = fd.grad().to_vector<double>();
  }
  const char* names[8] = {"voxel mean", "inverse", "trilinear", "avg", "max", "cat", "grad", "nearest"};
  for (int k = 0; k < 8; ++k) expect_close(r[1][k], r[0][k], 1e-5, 1e-4, names[k]);
}

// Deterministic mode: the voxel mean (point_scatter with 1/count weights, exact on both sides) takes the sorted path,
// the CPU twin's order and rounding: bit-identical to the CPU on Gaussian features. The trilinear devoxelize's
// backward (point_scatter over 8 corners) repeats bit for bit on the device; against the CPU it agrees to rounding
// only, because the trilinear weights themselves may round differently (nvcc contracts their products into fmas).
TEST(SparseGpu, DeterministicVoxelMeanAndDevoxelizeBackwardAreTheCpuTwinsBits) {
  SKIP_WITHOUT_CUDA();
  const bool was = deterministic();
  set_deterministic(true);
  const int64_t n = 5000;
  Tensor p = Tensor::rand(Shape{n, 3}, 3), f = Tensor::randn(Shape{n, 6}, 4);
  std::vector<int32_t> bv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bv[size_t(i)] = int32_t(i % 2);
  Tensor b = Tensor::from_vector<int32_t>(bv, Shape{n});
  auto run = [&](Device d) {
    Tensor fd = f.to(d).detach().requires_grad_();
    Voxelized v = voxelize(p.to(d), b.to(d), fd, 0.09);
    Tensor tri = devoxelize_trilinear(v.voxels, p.to(d), b.to(d), 0.09);
    tri.backward(Tensor::randn(tri.shape(), 5).to(d));
    return std::make_pair(v.voxels.feats().to_vector<float>(), fd.grad().to_vector<float>());
  };
  const auto cpu = run(Device::cpu()), g1 = run(Device::cuda()), g2 = run(Device::cuda());
  set_deterministic(was);
  ASSERT_EQ(g1.first.size(), cpu.first.size());
  ASSERT_EQ(g1.second.size(), cpu.second.size());
  EXPECT_EQ(std::memcmp(g1.first.data(), cpu.first.data(), cpu.first.size() * 4), 0) << "voxel mean";
  EXPECT_EQ(std::memcmp(g2.first.data(), g1.first.data(), cpu.first.size() * 4), 0) << "voxel mean repeat";
  EXPECT_EQ(std::memcmp(g2.second.data(), g1.second.data(), cpu.second.size() * 4), 0) << "devoxelize backward repeat";
  std::vector<double> a(g1.second.begin(), g1.second.end()), r(cpu.second.begin(), cpu.second.end());
  expect_close(a, r, 1e-5, 1e-4, "devoxelize backward vs cpu");
}

// The same with half features (bf16 / f16, f32 weights: train.precision bf16|f16): in deterministic mode the voxel
// mean takes the sorted half scatter (point_scatter_lowp_sorted_cuda), whose f32 accumulation order is the CPU
// twin's, so the stored half bits are the CPU's; the trilinear backward repeats bit for bit on the device.
TEST(SparseGpu, DeterministicHalfVoxelMeanIsTheCpuTwinsBits) {
  SKIP_WITHOUT_CUDA();
  const bool was = deterministic();
  set_deterministic(true);
  const int64_t n = 5000;
  Tensor p = Tensor::rand(Shape{n, 3}, 3), f32 = Tensor::randn(Shape{n, 6}, 4);
  std::vector<int32_t> bv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) bv[size_t(i)] = int32_t(i % 2);
  Tensor b = Tensor::from_vector<int32_t>(bv, Shape{n});
  for (DType dt : {DType::bf16, DType::f16}) {
    Tensor f = f32.to(dt);
    auto run = [&](Device d) {
      Tensor fd = f.to(d).detach().requires_grad_();
      Voxelized v = voxelize(p.to(d), b.to(d), fd, 0.09);
      Tensor tri = devoxelize_trilinear(v.voxels, p.to(d), b.to(d), 0.09);
      tri.backward(Tensor::randn(tri.shape(), 5).to(dt).to(d));
      return std::make_pair(v.voxels.feats().to(DType::f32).to_vector<float>(),
                            fd.grad().to(DType::f32).to_vector<float>());
    };
    const auto cpu = run(Device::cpu()), g1 = run(Device::cuda()), g2 = run(Device::cuda());
    const std::string name = dtype_name(dt);
    ASSERT_EQ(g1.first.size(), cpu.first.size()) << name;
    EXPECT_EQ(std::memcmp(g1.first.data(), cpu.first.data(), cpu.first.size() * 4), 0) << name << " voxel mean";
    EXPECT_EQ(std::memcmp(g2.first.data(), g1.first.data(), cpu.first.size() * 4), 0) << name << " voxel mean repeat";
    EXPECT_EQ(std::memcmp(g2.second.data(), g1.second.data(), g1.second.size() * 4), 0)
        << name << " devoxelize backward repeat";
  }
  set_deterministic(was);
}
