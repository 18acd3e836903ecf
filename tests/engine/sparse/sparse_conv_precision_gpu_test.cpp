// SPDX-License-Identifier: Apache-2.0
// CPU twin vs CUDA for the new dataflows (GroupedGemm, TensorCoreImplicitGemm) in every precision of
// engine/precision.h (tf32, bf16, f16), forward and all gradients, submanifold / strided / transposed, channel counts
// that hit the vectorised and the tail paths; the Morton order and tile masks; the autotuned path. Integer inputs in
// [-2, 2]: every product and partial sum is an integer below 2^24, exact in f32 in any order, so GPU and twin must agree
// bit for bit after the one rounding both do at the store.
#include <gtest/gtest.h>

#include <cmath>

#include "dense_oracle.h"
#include "engine/autograd.h"
#include "engine/precision.h"
#include "engine/sparse/conv_autotune.h"
#include "engine/sparse/coordinate_manager.h"
#include "engine/sparse/sparse_ops.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

using namespace leseg;
using namespace leseg::testing;

#define SKIP_WITHOUT_CUDA() \
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason()

namespace {
Tensor ints(int64_t n, Shape s, uint64_t seed) {
  return Tensor::from_vector<double>(random_ints(n, seed), s).to(DType::f32);
}
void expect_same(const Tensor& got, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(got.dtype(), ref.dtype()) << what;
  auto a = got.to(DType::f32).to_vector<float>(), b = ref.to(DType::f32).to_vector<float>();
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < a.size(); ++i) {
    nonzero |= b[i] != 0;
    if (a[i] != b[i] && ++bad <= 5) ADD_FAILURE() << what << "[" << i << "]: cuda " << a[i] << ", cpu " << b[i];
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(b.empty() || nonzero) << what << ": all-zero reference";
}
}  // namespace

TEST(SparseConvPrecisionGpu, MortonOrderAndTileMasksMatchCpu) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(2, 40, 0.1, 1, 3);
  const int64_t n = int64_t(coords.size() / 4);
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  SparseTensor cpu(c, Tensor::zeros(Shape{n, 1}));
  SparseTensor gpu(c.to(Device::cuda()), Tensor::zeros(Shape{n, 1}, DType::f32, Device::cuda()));
  EXPECT_EQ(gpu.coordinate_set()->morton().to_vector<int32_t>(), cpu.coordinate_set()->morton().to_vector<int32_t>());
  for (int K : {3, 5}) {
    auto a = cpu.manager()->kernel_map(1, 1, K, 1);
    auto b = gpu.manager()->kernel_map(1, 1, K, 1);
    kernels::ConvMap ma = a->conv_map(false, true), mb = b->conv_map(false, true);
    const int64_t words = kernels::tc::mask_words(ma.volume), tiles = kernels::tc::num_tiles(n);
    Tensor ta = Tensor::empty(Shape{tiles * words}, DType::i32), tb = Tensor::empty(Shape{tiles * words}, DType::i32,
                                                                                    Device::cuda());
    kernels::tile_masks_cpu(ma.nbr_out, cpu.coordinate_set()->morton().data<int32_t>(), n, ma.volume,
                            reinterpret_cast<uint32_t*>(ta.data<int32_t>()));
#if LESEG_WITH_CUDA  // (a CPU-only build compiles this file but has no CUDA kernels to link)
    kernels::tile_masks_cuda(mb.nbr_out, gpu.coordinate_set()->morton().data<int32_t>(), n, mb.volume,
                             reinterpret_cast<uint32_t*>(tb.data<int32_t>()), current_stream(Device::cuda()));
#endif
    EXPECT_EQ(tb.to_vector<int32_t>(), ta.to_vector<int32_t>()) << "K " << K;
  }
}

TEST(SparseConvPrecisionGpu, NewVariantsMatchCpuTwinInEveryPrecision) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(2, 16, 0.25, 1, 6);
  const int64_t n = int64_t(coords.size() / 4);
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  struct Mode { SparseConvOptions opt; const char* name; };
  struct Ch { int64_t ci, co; };
  for (Precision p : {Precision::f32, Precision::tf32, Precision::bf16, Precision::f16})
    for (const Ch ch : {Ch{37, 45}, Ch{64, 32}})
      for (const Mode& md : {Mode{{3, 1, 1, false}, "subm3"}, Mode{{2, 2, 1, false}, "down2"},
                             Mode{{3, 1, 2, false}, "subm3_dil2"}, Mode{{2, 2, 1, true}, "up2"}})
        for (ConvVariant v : {ConvVariant::GroupedGemm, ConvVariant::TensorCoreImplicitGemm}) {
          if (p == Precision::f32 && v == ConvVariant::TensorCoreImplicitGemm) continue;  // explicit: TF32 (other test)
          SCOPED_TRACE(std::string(precision_name(p)) + " " + md.name + " " + kernels::conv_variant_name(v) + " C " +
                       std::to_string(ch.ci) + "->" + std::to_string(ch.co));
          SparseConvOptions opt = md.opt;
          opt.variant = v;
          const int64_t V = int64_t(opt.kernel_size) * opt.kernel_size * opt.kernel_size, ci = ch.ci, co = ch.co;
          Tensor x0 = ints(n * ci, Shape{n, ci}, 1), w0 = ints(V * ci * co, Shape{V, ci, co}, 2),
                 b0 = ints(co, Shape{co}, 3);
          Tensor out[2], gx[2], gw[2], gb[2];
          for (int dev = 0; dev < 2; ++dev) {
            const Device d = dev ? Device::cuda() : Device::cpu();
            PrecisionScope scope(p);
            SparseTensor base(c.to(d), Tensor::zeros(Shape{n, ci}, DType::f32, d));
            SparseTensor in = base;
            if (opt.transposed) {
              PrecisionScope f32(Precision::f32);
              SparseTensor down = sparse_conv3d(base.with_feats(x0.to(d)), ints(8 * ci * ci, Shape{8, ci, ci}, 4).to(d),
                                                Tensor(), SparseConvOptions{2, 2, 1, false});
              in = down.with_feats(ints(down.size() * ci, Shape{down.size(), ci}, 5).to(d));
            }
            Tensor x = (opt.transposed ? in.feats() : x0.to(d)).detach().requires_grad_();
            Tensor w = w0.to(d).detach().requires_grad_(), b = b0.to(d).detach().requires_grad_();
            SparseTensor y = sparse_conv3d(in.with_feats(x), w, b, opt);
            y.feats().backward(ints(y.feats().numel(), y.feats().shape(), 6).to(y.feats().dtype()).to(d));
            out[dev] = y.feats().to(Device::cpu());
            gx[dev] = x.grad().to(Device::cpu());
            gw[dev] = w.grad().to(Device::cpu());
            gb[dev] = b.grad().to(Device::cpu());
          }
          if (p == Precision::bf16 || p == Precision::f16) {
            EXPECT_EQ(out[1].dtype(), p == Precision::bf16 ? DType::bf16 : DType::f16) << "autocast output dtype";
          }
          expect_same(out[1], out[0], "y");
          expect_same(gx[1], gx[0], "grad x");
          expect_same(gw[1], gw[0], "grad w");
          expect_same(gb[1], gb[0], "grad b");
        }
}

// Non-integer inputs: TF32 really rounds (the twin's round_to_tf32 is cvt.rna; cuBLAS' FAST_TF32 may round
// differently, so a tolerance of a few TF32 ulps of the summed magnitude), and bf16 autocast differs from f32.
TEST(SparseConvPrecisionGpu, Tf32AndBf16ChangeResultsWithinTolerance) {
  SKIP_WITHOUT_CUDA();
  auto coords = random_coords(2, 16, 0.25, 1, 8);
  const int64_t n = int64_t(coords.size() / 4), ci = 32, co = 32;
  const Device d = Device::cuda();
  SparseTensor base(Tensor::from_vector<int32_t>(coords, Shape{n, 4}).to(d), Tensor::zeros(Shape{n, ci}, DType::f32, d));
  Tensor x = Tensor::randn(Shape{n, ci}, 1).to(d), w = Tensor::randn(Shape{27, ci, co}, 2).to(d);
  SparseConvOptions opt{3, 1, 1, false, ConvVariant::GroupedGemm};
  Tensor y32 = sparse_conv3d(base.with_feats(x), w, Tensor(), opt).feats().to(Device::cpu());
  for (ConvVariant v : {ConvVariant::GroupedGemm, ConvVariant::TensorCoreImplicitGemm, ConvVariant::GatherGemmScatter}) {
    SCOPED_TRACE(kernels::conv_variant_name(v));
    opt.variant = v;
    PrecisionScope s(Precision::tf32);
    Tensor yt = sparse_conv3d(base.with_feats(x), w, Tensor(), opt).feats().to(Device::cpu());
    auto a = yt.to_vector<float>(), b = y32.to_vector<float>();
    double maxd = 0, maxa = 0;
    for (size_t i = 0; i < a.size(); ++i) maxd = std::max(maxd, double(std::fabs(a[i] - b[i]))), maxa = std::max(maxa, double(std::fabs(b[i])));
    EXPECT_GT(maxd, 0) << "TF32 requested but results are plain f32";
    EXPECT_LT(maxd, 27 * ci * 4 * std::ldexp(1.0, -10) * 4) << "TF32 error too large";
  }
}

TEST(SparseConvPrecisionGpu, AutotunePicksAnEligibleVariantAndMatchesTwin) {
  SKIP_WITHOUT_CUDA();
  clear_conv_autotune_cache();
  set_conv_autotune(true);
  auto coords = random_coords(2, 16, 0.25, 1, 9);
  const int64_t n = int64_t(coords.size() / 4), ci = 32, co = 48;
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  Tensor x0 = ints(n * ci, Shape{n, ci}, 1), w0 = ints(27 * ci * co, Shape{27, ci, co}, 2);
  Tensor y[2];
  for (int dev = 0; dev < 2; ++dev) {
    const Device d = dev ? Device::cuda() : Device::cpu();
    PrecisionScope scope(Precision::bf16);
    SparseTensor in(c.to(d), x0.to(d));
    y[dev] = sparse_conv3d(in, w0.to(d), Tensor(), SparseConvOptions{3, 1, 1, false}).feats().to(Device::cpu());
  }
  set_conv_autotune(false);
  expect_same(y[1], y[0], "autotuned y");
  const std::string table = conv_autotune_table();
  EXPECT_NE(table.find("bf16 C 32->48 V 27 subm"), std::string::npos) << table;
  EXPECT_EQ(table.find("gather_gemm_scatter"), std::string::npos) << "an f32-only variant was timed for bf16: " << table;
}
