// SPDX-License-Identifier: Apache-2.0
// Variant choice (engine/sparse/conv_autotune.h): eligibility per dtype / TF32 / compute capability, shape classes,
// the cache (each candidate timed once per class, the fastest kept), overrides and their errors; and the sparse conv
// op's precision contract on CPU (bf16/f16 autocast output dtype and the twin's rounding, TF32 rounding).
#include <gtest/gtest.h>

#include <cstdlib>

#include "engine/autograd.h"
#include "engine/ops/reduce.h"
#include "engine/precision.h"
#include "engine/sparse/conv_autotune.h"
#include "engine/sparse/sparse_ops.h"

using namespace leseg;

TEST(ConvAutotune, EligibilityPerDtype) {
  using V = ConvVariant;
  EXPECT_EQ(conv_autotune_candidates(DType::f32, false, 9, false),
            (std::vector<V>{V::GatherGemmScatter, V::ImplicitGemm, V::GroupedGemm}));
  EXPECT_EQ(conv_autotune_candidates(DType::f32, true, 8, false),
            (std::vector<V>{V::GatherGemmScatter, V::ImplicitGemm, V::GroupedGemm, V::TensorCoreImplicitGemm}));
  EXPECT_EQ(conv_autotune_candidates(DType::bf16, false, 8, false), (std::vector<V>{V::GroupedGemm, V::TensorCoreImplicitGemm}));
  EXPECT_EQ(conv_autotune_candidates(DType::f16, false, 7, false), (std::vector<V>{V::GroupedGemm}));
  EXPECT_EQ(conv_autotune_candidates(DType::f64, true, 9, false),
            (std::vector<V>{V::GatherGemmScatter, V::ImplicitGemm, V::GroupedGemm}));
  // deterministic mode: no variant uses float atomics, so the set is unchanged (docs/sparse-conv.md)
  EXPECT_EQ(conv_autotune_candidates(DType::bf16, false, 8, true), conv_autotune_candidates(DType::bf16, false, 8, false));
  EXPECT_FALSE(conv_variant_ineligible(V::GatherGemmScatter, DType::bf16, false, 8, true).empty());
  EXPECT_TRUE(conv_variant_ineligible(V::TensorCoreImplicitGemm, DType::f32, false, 8, true).empty());  // explicit
  EXPECT_FALSE(conv_variant_ineligible(V::TensorCoreImplicitGemm, DType::f32, false, 8, false).empty());
}

TEST(ConvAutotune, ShapeClassesAndNames) {
  auto a = make_conv_shape_key(DType::bf16, false, 32, 64, 27, ConvKind::Submanifold, 100000, 100000);
  auto b = make_conv_shape_key(DType::bf16, false, 32, 64, 27, ConvKind::Submanifold, 120000, 120000);
  auto c = make_conv_shape_key(DType::bf16, false, 32, 64, 27, ConvKind::Submanifold, 140000, 140000);
  EXPECT_EQ(a.rows_log2, 17);
  EXPECT_FALSE(a < b || b < a);  // same class (2^16 < n <= 2^17)
  EXPECT_TRUE(a < c || c < a);
  EXPECT_EQ(a.str(), "bf16 C 32->64 V 27 subm rows<=2^17");
  for (ConvVariant v : kernels::kAllConvVariants) EXPECT_EQ(parse_conv_variant(kernels::conv_variant_name(v)), v);
  try {
    parse_conv_variant("fastest");
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("'fastest' is not one of gather_gemm_scatter"), std::string::npos) << e.what();
  }
}

TEST(ConvAutotune, TimesEachCandidateOncePerClassAndKeepsTheFastest) {
  clear_conv_autotune_cache();
  auto key = make_conv_shape_key(DType::f16, false, 16, 16, 27, ConvKind::Strided, 5000, 900);
  int calls = 0;
  auto timer = [&](ConvVariant v) {
    ++calls;
    return v == ConvVariant::TensorCoreImplicitGemm ? 1.0 : 2.0;
  };
  const std::vector<ConvVariant> cands{ConvVariant::GroupedGemm, ConvVariant::TensorCoreImplicitGemm};
  EXPECT_EQ(conv_autotune_choose(key, cands, timer), ConvVariant::TensorCoreImplicitGemm);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(conv_autotune_choose(key, cands, timer), ConvVariant::TensorCoreImplicitGemm);
  EXPECT_EQ(calls, 2) << "cached: no second timing";
  const std::string t = conv_autotune_table();
  EXPECT_NE(t.find("f16 C 16->16 V 27 strided rows<=2^13: grouped_gemm 2 ms; tensor_core_implicit_gemm 1 ms; -> "
                   "tensor_core_implicit_gemm"),
            std::string::npos)
      << t;
  // ties keep the earlier candidate; a single candidate is not timed
  auto key2 = make_conv_shape_key(DType::f16, false, 8, 8, 8, ConvKind::Transposed, 10, 10);
  EXPECT_EQ(conv_autotune_choose(key2, cands, [](ConvVariant) { return 1.0; }), ConvVariant::GroupedGemm);
  auto key3 = make_conv_shape_key(DType::f16, false, 8, 8, 1, ConvKind::Transposed, 10, 10);
  EXPECT_EQ(conv_autotune_choose(key3, {ConvVariant::GroupedGemm}, [&](ConvVariant) { return ++calls, 1.0; }),
            ConvVariant::GroupedGemm);
  EXPECT_EQ(calls, 2);
  clear_conv_autotune_cache();
  EXPECT_EQ(conv_autotune_table(), "");
}

TEST(ConvAutotune, OverrideFromApiAndEnv) {
  set_conv_variant_override(ConvVariant::GroupedGemm);
  EXPECT_EQ(conv_variant_override(), ConvVariant::GroupedGemm);
  set_conv_variant_override(std::nullopt);
  EXPECT_EQ(conv_variant_override(), std::nullopt);  // API wins over the environment once set
}

namespace {
SparseTensor room(int64_t* n_out) {
  std::vector<int32_t> c;
  for (int x = 0; x < 12; ++x)
    for (int y = 0; y < 12; ++y) c.insert(c.end(), {0, x, y, (x * y) % 3});
  *n_out = int64_t(c.size() / 4);
  return SparseTensor(Tensor::from_vector<int32_t>(c, Shape{*n_out, 4}), Tensor::randn(Shape{*n_out, 8}, 1));
}
}  // namespace

TEST(SparseConvPrecisionCpu, AutocastCastsInputsAndRoundsOutput) {
  int64_t n = 0;
  SparseTensor x = room(&n);
  Tensor w = Tensor::randn(Shape{27, 8, 5}, 2), b = Tensor::randn(Shape{5}, 3);
  Tensor y32 = sparse_conv3d(x, w, b).feats();
  for (Precision p : {Precision::bf16, Precision::f16}) {
    PrecisionScope s(p);
    const DType dt = p == Precision::bf16 ? DType::bf16 : DType::f16;
    Tensor xf = x.feats().detach().requires_grad_(), wr = w.detach().requires_grad_();
    Tensor y = sparse_conv3d(x.with_feats(xf), wr, b).feats();
    EXPECT_EQ(y.dtype(), dt);
    // the twin: f32 conv on the rounded inputs, one rounding at the store
    Tensor ref = sparse_conv3d(x.with_feats(xf.detach().to(dt).to(DType::f32)), w.to(dt).to(DType::f32),
                               b.to(dt).to(DType::f32), SparseConvOptions{})
                     .feats();
    {
      PrecisionScope f32(Precision::f32);
      ref = sparse_conv3d(x.with_feats(xf.detach().to(dt).to(DType::f32)), w.to(dt).to(DType::f32),
                          b.to(dt).to(DType::f32))
                .feats()
                .to(dt);
    }
    EXPECT_EQ(y.to(DType::f32).to_vector<float>(), ref.to(DType::f32).to_vector<float>());
    EXPECT_NE(y.to(DType::f32).to_vector<float>(), y32.to_vector<float>());
    sum(y.to(DType::f32)).backward();
    EXPECT_EQ(xf.grad().dtype(), DType::f32) << "gradient of the f32 input comes back through the cast";
    EXPECT_EQ(wr.grad().dtype(), DType::f32);
  }
  {
    PrecisionScope s(Precision::tf32);
    Tensor yt = sparse_conv3d(x, w, b).feats();
    EXPECT_EQ(yt.dtype(), DType::f32);
    EXPECT_NE(yt.to_vector<float>(), y32.to_vector<float>()) << "tf32 mode must round the GEMM inputs";
  }
}
