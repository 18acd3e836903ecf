// SPDX-License-Identifier: Apache-2.0
// CPU twin of fused attention vs the serial double composition (matmul -> softmax -> matmul and its
// Jacobian-form backward): outputs and every gradient, element by element, f64 and f32, self- and
// cross-attention, ragged batches, masks, per-key bias, head dims, long sequences and huge logits.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>

#include "kernels/attention/attention.h"
#include "tests/kernels/attention/attention_reference.h"

namespace leseg::testing {
namespace {

using attn_ref::dims_of;
using attn_ref::Problem;
using attn_ref::Result;

std::vector<double> normal(size_t n, uint64_t seed, double sd = 1.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd(0.0, sd);
  std::vector<double> v(n);
  for (auto& x : v) x = nd(g);
  return v;
}

Problem make(std::vector<int64_t> cu_q, std::vector<int64_t> cu_k, int64_t H, int64_t D, uint64_t seed,
             double sd = 1.0) {
  Problem p;
  p.H = H;
  p.D = D;
  p.cu_q = std::move(cu_q);
  p.cu_k = std::move(cu_k);
  p.q = normal(size_t(p.tq() * H * D), seed, sd);
  p.k = normal(size_t(p.tk() * H * D), seed + 1, sd);
  p.v = normal(size_t(p.tk() * H * D), seed + 2);
  p.scale = 1.0 / std::sqrt(double(D));
  return p;
}

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> cu{0};
  for (auto l : lens) cu.push_back(cu.back() + l);
  return cu;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Compares element by element; prints the first mismatches; requires a non-trivial reference.
void expect_close(const char* what, const std::vector<double>& got, const std::vector<double>& ref, double atol,
                  double rtol, bool allow_zero = false) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero |= ref[i] != 0.0;
    if (!(std::abs(got[i] - ref[i]) <= atol + rtol * std::abs(ref[i]))) {
      if (bad++ < 6) ADD_FAILURE() << what << "[" << i << "]: kernel " << got[i] << " vs reference " << ref[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size() << " elements differ";
  if (!allow_zero && !ref.empty()) {
    EXPECT_TRUE(nonzero) << what << ": reference is all zero, test cannot fail";
  }
}

template <class T, class I = int64_t>
Result run_twin(const Problem& p, const std::vector<double>& dout, bool with_bias_grad = true) {
  const kernels::AttentionDims d = dims_of(p);
  std::vector<I> cq(p.cu_q.begin(), p.cu_q.end()), ck(p.cu_k.begin(), p.cu_k.end());
  auto q = cast<T>(p.q), k = cast<T>(p.k), v = cast<T>(p.v), bias = cast<T>(p.bias), dO = cast<T>(dout);
  const uint8_t* mask = p.mask.empty() ? nullptr : p.mask.data();
  const T* bp = p.bias.empty() ? nullptr : bias.data();
  std::vector<T> o(q.size()), lse(size_t(d.tq * d.heads)), dq(q.size()), dk(k.size()), dv(v.size()),
      db(size_t(d.tk * d.heads));
  kernels::attention_forward_cpu<T, I>(q.data(), k.data(), v.data(), cq.data(), ck.data(), mask, bp, d, o.data(),
                                       lse.data());
  std::vector<uint8_t> ws(size_t(kernels::attention_backward_workspace_bytes<T>(d)));
  kernels::attention_backward_cpu<T, I>(q.data(), k.data(), v.data(), cq.data(), ck.data(), mask, bp, o.data(),
                                        lse.data(), dO.data(), d, dq.data(), dk.data(), dv.data(),
                                        with_bias_grad ? db.data() : nullptr, ws.data());
  Result r;
  r.o.assign(o.begin(), o.end());
  r.dq.assign(dq.begin(), dq.end());
  r.dk.assign(dk.begin(), dk.end());
  r.dv.assign(dv.begin(), dv.end());
  r.dbias.assign(db.begin(), db.end());
  return r;
}

struct Tol {
  double atol, rtol;
};
constexpr Tol kF64{1e-11, 1e-9};
// f32 twin: inputs rounded to f32 (rel 6e-8) then double accumulation; logits of O(few) amplify that by ~10.
constexpr Tol kF32{2e-5, 2e-4};

void check_all(const Problem& p, uint64_t seed, bool allow_zero = false) {
  const auto dout = normal(size_t(p.tq() * p.H * p.D), seed + 7);
  const Result ref = attn_ref::reference(p, dout);
  {
    SCOPED_TRACE("f64");
    const Result got = run_twin<double>(p, dout);
    expect_close("o", got.o, ref.o, kF64.atol, kF64.rtol, allow_zero);
    expect_close("dq", got.dq, ref.dq, kF64.atol, kF64.rtol, allow_zero);
    expect_close("dk", got.dk, ref.dk, kF64.atol, kF64.rtol, allow_zero);
    expect_close("dv", got.dv, ref.dv, kF64.atol, kF64.rtol, allow_zero);
    if (!p.bias.empty()) expect_close("dbias", got.dbias, ref.dbias, kF64.atol, kF64.rtol, allow_zero);
  }
  {
    SCOPED_TRACE("f32, i32 offsets");
    const Result got = run_twin<float, int32_t>(p, dout);
    expect_close("o", got.o, ref.o, kF32.atol, kF32.rtol, allow_zero);
    expect_close("dq", got.dq, ref.dq, kF32.atol, kF32.rtol, allow_zero);
    expect_close("dk", got.dk, ref.dk, kF32.atol, kF32.rtol, allow_zero);
    expect_close("dv", got.dv, ref.dv, kF32.atol, kF32.rtol, allow_zero);
    if (!p.bias.empty()) expect_close("dbias", got.dbias, ref.dbias, kF32.atol, kF32.rtol, allow_zero);
  }
}

TEST(AttentionCpu, SelfAttentionSingleSequenceLengths) {
  for (int64_t L : {1, 7, 31, 33, 64, 65, 100}) {
    SCOPED_TRACE("L = " + std::to_string(L));
    // L = 1: softmax over one key is constant, so dq and dk are exactly 0
    check_all(make({0, L}, {0, L}, 2, 16, 10 + uint64_t(L)), 20 + uint64_t(L), /*allow_zero=*/L == 1);
  }
}

TEST(AttentionCpu, SelfAttentionLength1024) {
  Problem p = make({0, 1024}, {0, 1024}, 1, 16, 3);
  check_all(p, 4);
}

TEST(AttentionCpu, RaggedBatchOfFiveWithEmptySequence) {
  const auto cu = offsets({7, 1, 0, 70, 33});
  check_all(make(cu, cu, 3, 8, 5), 6, /*allow_zero=*/false);
}

TEST(AttentionCpu, CrossAttentionFewQueriesManyKeys) {
  // class-query style: few queries per scene over many keys, lengths not multiples of any tile
  check_all(make(offsets({20, 1, 5}), offsets({130, 7, 65}), 3, 32, 7), 8);
}

TEST(AttentionCpu, CrossAttentionManyQueriesFewKeys) {
  check_all(make(offsets({97}), offsets({3}), 2, 16, 9), 10);
}

TEST(AttentionCpu, HeadDims) {
  for (int64_t D : {1, 5, 16, 32, 64, 128}) {
    SCOPED_TRACE("D = " + std::to_string(D));
    check_all(make(offsets({7, 40}), offsets({7, 40}), 2, D, 30 + uint64_t(D)), 40 + uint64_t(D));
  }
}

TEST(AttentionCpu, KeyMaskAndBias) {
  const auto cu = offsets({9, 70, 4});
  Problem p = make(cu, cu, 2, 16, 11);
  std::mt19937 g(12);
  p.mask.resize(size_t(p.tk()));
  for (auto& m : p.mask) m = uint8_t(g() % 3 == 0);
  p.bias = normal(size_t(p.tk() * p.H), 13, 2.0);
  check_all(p, 14);
}

TEST(AttentionCpu, FullyMaskedSequenceGivesZerosNotNaN) {
  // sequence 1 (rows 5..11) has every key masked; sequence 0 has one unmasked key
  const auto cu = offsets({5, 7});
  Problem p = make(cu, cu, 2, 16, 15);
  p.mask.assign(size_t(p.tk()), 1);
  p.mask[2] = 0;
  p.bias = normal(size_t(p.tk() * p.H), 16);
  const auto dout = normal(size_t(p.tq() * p.H * p.D), 17);
  const Result ref = attn_ref::reference(p, dout);
  for (auto run : {run_twin<double>(p, dout), run_twin<float>(p, dout)}) {
    expect_close("o", run.o, ref.o, kF32.atol, kF32.rtol);
    expect_close("dq", run.dq, ref.dq, kF32.atol, kF32.rtol, /*allow_zero=*/true);
    expect_close("dk", run.dk, ref.dk, kF32.atol, kF32.rtol, true);
    expect_close("dv", run.dv, ref.dv, kF32.atol, kF32.rtol);
    expect_close("dbias", run.dbias, ref.dbias, kF32.atol, kF32.rtol, true);
    for (int64_t i = 5 * p.H * p.D; i < p.tq() * p.H * p.D; ++i) {
      ASSERT_EQ(run.o[size_t(i)], 0.0) << i;
      ASSERT_EQ(run.dq[size_t(i)], 0.0) << i;
    }
    for (double x : run.dk) ASSERT_TRUE(std::isfinite(x));
  }
}

TEST(AttentionCpu, HugeLogitsStayFiniteAndExact) {
  // |logits| up to ~1e4: the online max keeps exp() in range; softmax is then nearly one-hot.
  const auto cu = offsets({13, 40});
  Problem p = make(cu, cu, 2, 16, 18, 30.0);
  p.scale = 1.0;
  const auto dout = normal(size_t(p.tq() * p.H * p.D), 19);
  const Result ref = attn_ref::reference(p, dout);
  double max_logit = 0;
  for (size_t i = 0; i < 16; ++i) max_logit = std::max(max_logit, std::abs(p.q[i] * p.k[i]) * 16);
  ASSERT_GT(max_logit, 1000.0);
  const Result got = run_twin<double>(p, dout);
  expect_close("o", got.o, ref.o, 1e-9, 1e-9);
  expect_close("dq", got.dq, ref.dq, 1e-9, 1e-9, true);
  expect_close("dk", got.dk, ref.dk, 1e-9, 1e-9, true);
  expect_close("dv", got.dv, ref.dv, 1e-9, 1e-9);
  const Result f = run_twin<float>(p, dout);
  for (const auto* v : {&f.o, &f.dq, &f.dk, &f.dv})
    for (double x : *v) ASSERT_TRUE(std::isfinite(x));
  expect_close("o f32", f.o, ref.o, 1e-3, 1e-3);
}

TEST(AttentionCpu, Int32AndInt64OffsetsAgreeExactly) {
  const auto cu = offsets({3, 50, 8});
  Problem p = make(cu, offsets({10, 2, 64}), 2, 16, 21);
  const auto dout = normal(size_t(p.tq() * p.H * p.D), 22);
  const Result a = run_twin<float, int32_t>(p, dout), b = run_twin<float, int64_t>(p, dout);
  EXPECT_EQ(a.o, b.o);
  EXPECT_EQ(a.dq, b.dq);
  EXPECT_EQ(a.dk, b.dk);
  EXPECT_EQ(a.dv, b.dv);
}

TEST(AttentionCpu, BadOffsetsThrow) {
  // cu_q ends at 3 but there are Tq = 4 query rows
  kernels::AttentionDims d;
  d.batch = 1;
  d.heads = 1;
  d.dim = 4;
  d.tq = 4;
  d.tk = 4;
  std::vector<float> q(16), o(16), lse(4);
  std::vector<int64_t> cq{0, 3}, ck{0, 4};
  auto call = [&] {
    kernels::attention_forward_cpu<float, int64_t>(q.data(), q.data(), q.data(), cq.data(), ck.data(), nullptr, nullptr,
                                                   d, o.data(), lse.data());
  };
  EXPECT_THROW(call(), std::invalid_argument);
}

}  // namespace
}  // namespace leseg::testing
