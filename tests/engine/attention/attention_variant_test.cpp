// SPDX-License-Identifier: Apache-2.0
// Engine attention (CPU): the schedule cache (hit on repeated offsets, invalidated by an in-place write or a new
// tensor, bounded), the variant choice, the tensor-core twin against the reference path, and autocast.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/ops/attention.h"
#include "engine/ops/reduce.h"
#include "engine/precision.h"

namespace leseg {
namespace {

TEST(AttentionScheduleCache, HitOnRepeatMissOnWriteOrNewTensor) {
  attention_schedule_cache_clear();
  Tensor cu = Tensor::from_vector<int64_t>({0, 3, 10}, Shape{3});
  Tensor q = Tensor::randn(Shape{10, 2, 8}, 1, 0);
  attention(q, q, q, cu, cu);
  auto s = attention_schedule_cache_stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 0);
  attention(q, q, q, cu, cu);
  attention(q, q, q, cu, cu);
  s = attention_schedule_cache_stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 2);
  // An in-place write to the offsets (same storage, new version) rebuilds and validates again.
  cu.copy_(Tensor::from_vector<int64_t>({0, 5, 10}, Shape{3}));
  attention(q, q, q, cu, cu);
  s = attention_schedule_cache_stats();
  EXPECT_EQ(s.misses, 2);
  // ... and a bad write is caught at that rebuild, with the field named.
  cu.copy_(Tensor::from_vector<int64_t>({0, 7, 9}, Shape{3}));
  try {
    attention(q, q, q, cu, cu);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cu_q ends at 9"), std::string::npos) << e.what();
  }
  // A new tensor with equal values is a different key (another storage).
  Tensor cu2 = Tensor::from_vector<int64_t>({0, 5, 10}, Shape{3});
  attention(q, q, q, cu2, cu2);
  s = attention_schedule_cache_stats();
  EXPECT_EQ(s.misses, 3);  // the failed build above was not cached
  // The schedule depends on the head count: a different H is another entry.
  Tensor q3 = Tensor::randn(Shape{10, 3, 8}, 1, 0);
  attention(q3, q3, q3, cu2, cu2);
  EXPECT_EQ(attention_schedule_cache_stats().misses, 4);
  attention(q3, q3, q3, cu2, cu2);
  EXPECT_EQ(attention_schedule_cache_stats().hits, 3);
}

// attention_offsets: offsets made from host values are scheduled from those values, so the first call with them reads
// nothing from the device (counted by the host-sync hook), with the same result as plain offsets; a write to them
// drops the host values (the next call reads and validates again); bad host values are refused at once.
TEST(AttentionScheduleCache, OffsetsWithHostValuesAreNotReadBack) {
  attention_schedule_cache_clear();
  Tensor q = Tensor::randn(Shape{10, 2, 8}, 4, 0), k = Tensor::randn(Shape{10, 2, 8}, 5, 0);
  Tensor cu = attention_offsets({0, 3, 10}, Device::cpu());
  EXPECT_EQ(cu.dtype(), DType::i64);
  HostSyncCounter c;
  Tensor a = attention(q, k, k, cu, cu);
  EXPECT_EQ(c.total(), 0) << c.report();
  EXPECT_EQ(attention_schedule_cache_stats().misses, 1);
  Tensor plain = Tensor::from_vector<int64_t>({0, 3, 10}, Shape{3});
  Tensor b = attention(q, k, k, plain, plain);
  EXPECT_EQ(c.total(), 1) << "plain offsets are read once to build their schedule";
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  // A write: the host values no longer describe the tensor, so they are read (and checked) again.
  cu.copy_(Tensor::from_vector<int64_t>({0, 6, 10}, Shape{3}));
  c.clear();
  attention(q, k, k, cu, cu);
  EXPECT_EQ(c.total(), 1);
  EXPECT_THROW(attention_offsets({0, 4, 2}, Device::cpu()), Error);
  EXPECT_THROW(attention_offsets({1, 4}, Device::cpu()), Error);
  EXPECT_THROW(attention_offsets({0}, Device::cpu()), Error);
  // The values are still checked against the rows at the call.
  Tensor short_cu = attention_offsets({0, 3, 9}, Device::cpu());
  EXPECT_THROW(attention(q, k, k, short_cu, short_cu), Error);
}

TEST(AttentionScheduleCache, BackwardReusesTheForwardsSchedule) {
  attention_schedule_cache_clear();
  Tensor cu = Tensor::from_vector<int32_t>({0, 4, 9}, Shape{3});
  Tensor q = Tensor::randn(Shape{9, 1, 16}, 2, 0).requires_grad_();
  sum(attention(q, q, q, cu, cu)).backward();
  const auto s = attention_schedule_cache_stats();
  EXPECT_EQ(s.misses + s.hits, 1);
}

TEST(AttentionScheduleCache, Bounded) {
  attention_schedule_cache_clear();
  Tensor q = Tensor::randn(Shape{4, 1, 4}, 3, 0);
  for (int i = 0; i < 40; ++i) {
    Tensor cu = Tensor::from_vector<int64_t>({0, 4}, Shape{2});
    attention(q, q, q, cu, cu);
  }
  EXPECT_LE(attention_schedule_cache_stats().entries, 16);
}

TEST(AttentionVariant, Choice) {
  EXPECT_EQ(attention_variant_for(DType::f32, Device::cpu()), AttentionVariant::reference);
  EXPECT_EQ(attention_variant_for(DType::f64, Device::cpu()), AttentionVariant::reference);
  EXPECT_EQ(attention_variant_for(DType::bf16, Device::cpu()), AttentionVariant::tensor_core);
  EXPECT_EQ(attention_variant_for(DType::f16, Device::cpu(), AttentionVariant::reference), AttentionVariant::reference);
  EXPECT_THROW(attention_variant_for(DType::f32, Device::cpu(), AttentionVariant::tensor_core), Error);
}

// The tensor-core twin differs from the reference only by the rounding of P and dS to the input dtype: close
// to it within a few units of that dtype, and not identical (the rounding happens).
TEST(AttentionVariant, TensorCoreTwinIsTheReferenceWithRoundedProducts) {
  Tensor cu = Tensor::from_vector<int64_t>({0, 50, 300}, Shape{3});
  for (DType dt : {DType::bf16, DType::f16}) {
    Tensor q = Tensor::randn(Shape{300, 2, 24}, 4, 0).to(dt);
    Tensor k = Tensor::randn(Shape{300, 2, 24}, 4, 1).to(dt);
    Tensor v = Tensor::randn(Shape{300, 2, 24}, 4, 2).to(dt);
    AttentionOptions ref, tc;
    ref.variant = AttentionVariant::reference;
    tc.variant = AttentionVariant::tensor_core;
    const auto a = attention(q, k, v, cu, cu, ref).to(DType::f32).to_vector<float>();
    const auto b = attention(q, k, v, cu, cu, tc).to(DType::f32).to_vector<float>();
    const double u = dt == DType::f16 ? 1.0 / 2048 : 1.0 / 256;
    double mx = 0;
    int differ = 0;
    for (float x : a) mx = std::max(mx, double(std::abs(x)));
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_LE(std::abs(a[i] - b[i]), 4 * u * (std::abs(a[i]) + mx)) << dtype_name(dt) << " " << i;
      differ += a[i] != b[i];
    }
    EXPECT_GT(differ, 0) << dtype_name(dt);
  }
}

TEST(AttentionAutocast, F32InputsComputeInAutocastDtype) {
  Tensor cu = Tensor::from_vector<int64_t>({0, 30, 64}, Shape{3});
  Tensor q = Tensor::randn(Shape{64, 2, 16}, 6, 0).requires_grad_();
  Tensor k = Tensor::randn(Shape{64, 2, 16}, 6, 1).requires_grad_();
  Tensor v = Tensor::randn(Shape{64, 2, 16}, 6, 2).requires_grad_();
  Tensor bias = Tensor::randn(Shape{64, 2}, 6, 3).requires_grad_();
  AttentionOptions opts;
  opts.key_bias = bias;
  Tensor o;
  {
    PrecisionScope scope(Precision::bf16);
    o = attention(q, k, v, cu, cu, opts);
  }
  EXPECT_EQ(o.dtype(), DType::bf16);
  AttentionOptions o2;
  o2.key_bias = bias.detach().to(DType::bf16);
  const Tensor ref = attention(q.detach().to(DType::bf16), k.detach().to(DType::bf16), v.detach().to(DType::bf16), cu, cu, o2);
  EXPECT_EQ(o.to(DType::f32).to_vector<float>(), ref.to(DType::f32).to_vector<float>());
  sum(o.to(DType::f32)).backward();
  EXPECT_EQ(q.grad().dtype(), DType::f32);
  EXPECT_EQ(bias.grad().dtype(), DType::f32);
  // f32 mode: no cast.
  EXPECT_EQ(attention(q.detach(), k.detach(), v.detach(), cu, cu).dtype(), DType::f32);
}

}  // namespace
}  // namespace leseg
