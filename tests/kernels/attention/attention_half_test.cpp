// SPDX-License-Identifier: Apache-2.0
// f16 / bf16 inputs of the fused attention CPU twin. Every half converts exactly to f32 and the twin
// computes a half problem with the very tiles and arithmetic of the f32 path, rounding only at the stores:
//   * forward: o_half is the f32 twin's o (same inputs, up-converted) rounded to the half type, bit for
//     bit; lse (f32 for half inputs) is bitwise the f32 twin's;
//   * backward: given the same saved tensors (o and dO up-converted from the half ones, the same lse),
//     every half gradient is the f32 twin's gradient rounded to the half type, bit for bit;
// and, end to end against the double oracle on the up-converted inputs, the half results stay within the
// f32 twin's tolerance plus half an ulp of the half type (2^-11 f16, 2^-8 bf16) and the propagation of the
// rounded o into D_i = <dO, o> (bounded by a few half-ulps of |o|·|dO|).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/common/half_math.h"
#include "tests/kernels/attention/attention_reference.h"

namespace leseg::testing {
namespace {

using attn_ref::dims_of;
using attn_ref::Problem;
using attn_ref::Result;

template <class H>
constexpr double half_rel() { return std::is_same_v<H, f16_t> ? 1.0 / 2048.0 : 1.0 / 256.0; }

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> cu{0};
  for (auto l : lens) cu.push_back(cu.back() + l);
  return cu;
}

template <class H>
std::vector<double> rounded_normal(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = Convert<double, H>::apply(Convert<H, double>::apply(nd(g)));
  return v;
}

template <class To>
std::vector<To> conv(const std::vector<double>& v) {
  std::vector<To> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = Convert<To, double>::apply(v[i]);
  return r;
}
template <class From>
std::vector<double> up(const std::vector<From>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = Convert<double, From>::apply(v[i]);
  return r;
}

template <class T>
struct Run {
  std::vector<T> o, dq, dk, dv, db;
  std::vector<float> lse;
};

// Forward on (q, k, v, bias) in T; backward with the given saved o (nullptr: the forward's own) and dO.
template <class T>
Run<T> run(const Problem& p, const std::vector<double>& dout, const std::vector<double>* saved_o = nullptr,
           const std::vector<float>* saved_lse = nullptr) {
  const kernels::AttentionDims d = dims_of(p);
  auto q = conv<T>(p.q), k = conv<T>(p.k), v = conv<T>(p.v), bias = conv<T>(p.bias), dO = conv<T>(dout);
  const uint8_t* mask = p.mask.empty() ? nullptr : p.mask.data();
  const T* bp = p.bias.empty() ? nullptr : bias.data();
  Run<T> r;
  r.o.resize(q.size());
  r.lse.resize(size_t(d.tq * d.heads));
  kernels::attention_forward_cpu<T, int64_t>(q.data(), k.data(), v.data(), p.cu_q.data(), p.cu_k.data(), mask, bp, d,
                                             r.o.data(), r.lse.data());
  const std::vector<T> o_used = saved_o ? conv<T>(*saved_o) : r.o;
  const std::vector<float>& lse_used = saved_lse ? *saved_lse : r.lse;
  r.dq.resize(q.size());
  r.dk.resize(k.size());
  r.dv.resize(v.size());
  r.db.resize(size_t(d.tk * d.heads));
  std::vector<uint8_t> ws(size_t(kernels::attention_backward_workspace_bytes<T>(d)));
  kernels::attention_backward_cpu<T, int64_t>(q.data(), k.data(), v.data(), p.cu_q.data(), p.cu_k.data(), mask, bp,
                                              o_used.data(), lse_used.data(), dO.data(), d, r.dq.data(), r.dk.data(),
                                              r.dv.data(), bp ? r.db.data() : nullptr, ws.data());
  return r;
}

template <class H>
void expect_rounding_of(const std::vector<H>& got, const std::vector<float>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero |= ref[i] != 0.f;
    if (got[i].bits != Convert<H, float>::apply(ref[i]).bits && bad++ < 6)
      ADD_FAILURE() << what << "[" << i << "]: half " << Convert<float, H>::apply(got[i]) << ", f32 " << ref[i]
                    << " rounds to " << Convert<float, H>::apply(Convert<H, float>::apply(ref[i]));
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(nonzero) << what << ": all zero";
}

void expect_near(const std::vector<double>& got, const std::vector<double>& ref, double atol, double rtol,
                 const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::abs(got[i] - ref[i]) <= atol + rtol * std::abs(ref[i])) && bad++ < 6)
      ADD_FAILURE() << what << "[" << i << "]: half " << got[i] << " vs oracle " << ref[i];
  EXPECT_EQ(bad, 0) << what;
}

template <class H>
class HalfAttention : public ::testing::Test {};
using HalfTypes = ::testing::Types<f16_t, bf16_t>;
TYPED_TEST_SUITE(HalfAttention, HalfTypes);

TYPED_TEST(HalfAttention, MatchesF32TwinRoundedOnceAndTheOracle) {
  using H = TypeParam;
  struct Case {
    std::vector<int64_t> lq, lk;
    int64_t H, D;
    bool mask_bias;
  };
  const std::vector<Case> cases = {
      {{7, 1, 70}, {7, 1, 70}, 2, 16, false},  // self-attention, ragged, tile remainders
      {{20, 5}, {130, 65}, 3, 32, true},       // cross-attention with key mask and bias
      {{129}, {129}, 1, 64, false},
  };
  uint64_t seed = 40;
  for (const Case& c : cases) {
    SCOPED_TRACE("H = " + std::to_string(c.H) + ", D = " + std::to_string(c.D));
    Problem p;
    p.H = c.H;
    p.D = c.D;
    p.cu_q = offsets(c.lq);
    p.cu_k = offsets(c.lk);
    p.q = rounded_normal<H>(size_t(p.tq() * c.H * c.D), seed);
    p.k = rounded_normal<H>(size_t(p.tk() * c.H * c.D), seed + 1);
    p.v = rounded_normal<H>(size_t(p.tk() * c.H * c.D), seed + 2);
    p.scale = 1.0 / std::sqrt(double(c.D));
    if (c.mask_bias) {
      std::mt19937 g{uint32_t(seed)};
      p.mask.resize(size_t(p.tk()));
      for (auto& m : p.mask) m = uint8_t(g() % 3 == 0);
      p.bias = rounded_normal<H>(size_t(p.tk() * c.H), seed + 3);
    }
    const auto dout = rounded_normal<H>(size_t(p.tq() * c.H * c.D), seed + 4);
    seed += 10;

    const Run<H> h = run<H>(p, dout);
    const Run<float> f = run<float>(p, dout);
    expect_rounding_of(h.o, f.o, "o");
    EXPECT_EQ(h.lse, f.lse);
    // backward from the same saved state: the half run's o, up-converted
    const std::vector<double> o_h = up(h.o);
    const Run<float> fb = run<float>(p, dout, &o_h, &h.lse);
    expect_rounding_of(h.dq, fb.dq, "dq");
    expect_rounding_of(h.dk, fb.dk, "dk");
    expect_rounding_of(h.dv, fb.dv, "dv");
    if (c.mask_bias) expect_rounding_of(h.db, fb.db, "dbias");

    // end to end vs the double oracle on the up-converted inputs
    const Result ref = attn_ref::reference(p, dout);
    const double r = half_rel<H>();
    expect_near(up(h.o), ref.o, 2e-5, 2e-4 + r, "o vs oracle");
    // D_i uses the rounded o: |ΔD_i| <= r·Σ|dO||o| ~ r·D; dS = P(dP - D_i) carries it into dq, dk, dbias.
    const double atol = 2e-5 + 4.0 * r * std::sqrt(double(c.D));
    expect_near(up(h.dq), ref.dq, atol, 2e-4 + r, "dq vs oracle");
    expect_near(up(h.dk), ref.dk, atol, 2e-4 + r, "dk vs oracle");
    expect_near(up(h.dv), ref.dv, 2e-5, 2e-4 + r, "dv vs oracle");
  }
}

TYPED_TEST(HalfAttention, FullyMaskedSequenceGivesZeros) {
  using H = TypeParam;
  Problem p;
  p.H = 1;
  p.D = 8;
  p.cu_q = offsets({3, 4});
  p.cu_k = offsets({3, 4});
  p.q = rounded_normal<H>(size_t(7 * 8), 1);
  p.k = rounded_normal<H>(size_t(7 * 8), 2);
  p.v = rounded_normal<H>(size_t(7 * 8), 3);
  p.scale = 0.5;
  p.mask.assign(7, 0);
  for (int j = 3; j < 7; ++j) p.mask[size_t(j)] = 1;
  const auto dout = rounded_normal<H>(size_t(7 * 8), 4);
  const Run<H> h = run<H>(p, dout);
  for (int64_t i = 3 * 8; i < 7 * 8; ++i) {
    const float o = Convert<float, H>::apply(h.o[size_t(i)]), dq = Convert<float, H>::apply(h.dq[size_t(i)]),
                dk = Convert<float, H>::apply(h.dk[size_t(i)]);
    EXPECT_EQ(o, 0.f) << i;
    EXPECT_EQ(dq, 0.f) << i;
    EXPECT_EQ(dk, 0.f) << i;
  }
  for (int i = 3; i < 7; ++i) EXPECT_TRUE(std::isinf(h.lse[size_t(i)])) << i;
  bool nonzero = false;
  for (int64_t i = 0; i < 3 * 8; ++i) nonzero |= Convert<float, H>::apply(h.o[size_t(i)]) != 0.f;
  EXPECT_TRUE(nonzero);
}

}  // namespace
}  // namespace leseg::testing
