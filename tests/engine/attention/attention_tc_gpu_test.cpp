// SPDX-License-Identifier: Apache-2.0
// Tensor-core attention (kernels/attention/attention_tc_cuda.cu) vs its CPU twin (the CPU path with P and dS
// rounded to the input dtype before their products, AttentionVariant::tensor_core on CPU): output and the
// gradients into q, k, v and the per-key bias, for d = 16/32/64/96/128 and padded dims (8, 40, 100), varlen
// sets of 1..4096 tokens, cross-attention 20 x 100k (split-KV), key masks (a fully masked set included),
// f16 and bf16; bitwise run-to-run determinism of forward and backward (split combine and dQ pass have no
// atomics); the engine's autocast of f32 inputs.
//
// Tolerance, per element: |gpu - cpu| <= 4u |cpu| + 4u max|cpu| with u the unit roundoff of the dtype
// (2^-8 bf16, 2^-11 f16). Why: both sides compute in f32 from identical T inputs, but (1) the f32 sums run
// in a different order (mma k-order and 64-key tiles vs Eigen's 128-key GEMMs) and exp differs by an ulp
// (expf vs Eigen's), so P and dS can land on the other side of a T rounding boundary: a flipped element
// moves a product term by one T ulp of that term (bounded by u times the tensor's scale after summing);
// (2) each side rounds its final result to T once (up to 1u each, relative); (3) the gradients use o and
// D_i = <dO, o>, which carry (2) into every gradient. f32 noise (~1e-6) is far below these.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/autograd.h"
#include "engine/ops/attention.h"
#include "engine/ops/reduce.h"
#include "engine/precision.h"

namespace leseg {
namespace {

struct Config {
  std::vector<int64_t> lq, lk;
  int64_t H, D;
  bool mask, bias;
};

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> cu{0};
  for (auto l : lens) cu.push_back(cu.back() + l);
  return cu;
}

struct Out {
  std::vector<float> o, dq, dk, dv, db;
};

Out run(const Config& c, Device dev, uint64_t seed, DType dt, AttentionVariant var) {
  const auto cq = offsets(c.lq), ck = offsets(c.lk);
  const int64_t Tq = cq.back(), Tk = ck.back();
  Tensor q = Tensor::randn(Shape{Tq, c.H, c.D}, seed, 0).to(dt).to(dev).requires_grad_();
  Tensor k = Tensor::randn(Shape{Tk, c.H, c.D}, seed, 1).to(dt).to(dev).requires_grad_();
  Tensor v = Tensor::randn(Shape{Tk, c.H, c.D}, seed, 2).to(dt).to(dev).requires_grad_();
  Tensor dout = Tensor::randn(Shape{Tq, c.H, c.D}, seed, 3).to(dt).to(dev);
  AttentionOptions opts;
  opts.variant = var;
  Tensor bias;
  if (c.bias) {
    bias = Tensor::randn(Shape{Tk, c.H}, seed, 4).to(dt).to(dev).requires_grad_();
    opts.key_bias = bias;
  }
  if (c.mask) {
    std::vector<uint8_t> m(static_cast<size_t>(Tk));
    std::mt19937 g{static_cast<uint32_t>(seed)};
    for (auto& x : m) x = uint8_t(g() % 4 == 0);
    if (c.lk.size() > 1)  // last set fully masked
      for (int64_t j = ck[ck.size() - 2]; j < Tk; ++j) m[size_t(j)] = 1;
    opts.key_mask = Tensor::from_vector(m, Shape{Tk}, dev);
  }
  Tensor cu_q = Tensor::from_vector(cq, Shape{int64_t(cq.size())}).to(dev);
  Tensor cu_k = Tensor::from_vector(ck, Shape{int64_t(ck.size())}).to(dev);
  Tensor o = attention(q, k, v, cu_q, cu_k, opts);
  o.backward(dout);
  Out r{o.to(DType::f32).to_vector<float>(), q.grad().to(DType::f32).to_vector<float>(),
        k.grad().to(DType::f32).to_vector<float>(), v.grad().to(DType::f32).to_vector<float>(), {}};
  if (c.bias) r.db = bias.grad().to(DType::f32).to_vector<float>();
  return r;
}

void expect_close(const char* what, const std::vector<float>& gpu, const std::vector<float>& cpu, double u) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double mx = 0;
  for (float x : cpu) mx = std::max(mx, double(std::abs(x)));
  int bad = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double tol = 4 * u * std::abs(cpu[i]) + 4 * u * mx;
    if (!(std::abs(double(gpu[i]) - cpu[i]) <= tol) && bad++ < 6)
      ADD_FAILURE() << what << "[" << i << "]: cuda " << gpu[i] << " vs cpu " << cpu[i] << " (tol " << tol << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << cpu.size() << " differ";
  EXPECT_GT(mx, 0.0) << what << ": all zero";
}

double unit_roundoff(DType dt) { return dt == DType::f16 ? 1.0 / 2048 : 1.0 / 256; }

void compare(const Config& c, uint64_t seed, DType dt) {
  const Out cpu = run(c, Device::cpu(), seed, dt, AttentionVariant::tensor_core);
  const Out gpu = run(c, Device::cuda(), seed, dt, AttentionVariant::tensor_core);
  const double u = unit_roundoff(dt);
  expect_close("o", gpu.o, cpu.o, u);
  expect_close("dq", gpu.dq, cpu.dq, u);
  expect_close("dk", gpu.dk, cpu.dk, u);
  expect_close("dv", gpu.dv, cpu.dv, u);
  if (c.bias) expect_close("dbias", gpu.db, cpu.db, u);
}

bool tc_ok() {
  return leseg::cuda_available() &&
         attention_variant_for(DType::bf16, Device::cuda()) == AttentionVariant::tensor_core;
}
#define LESEG_SKIP_WITHOUT_TC()                                                                              \
  do {                                                                                                       \
    if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();     \
    if (!tc_ok()) GTEST_SKIP() << "device below sm_80: no tensor-core attention";                            \
  } while (0)

TEST(AttentionTcGpu, HeadDimsMatchTwin) {
  LESEG_SKIP_WITHOUT_TC();
  uint64_t seed = 1000;
  for (int64_t D : {16, 32, 64, 96, 128, 8, 40, 100})
    for (DType dt : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " D = " + std::to_string(D));
      compare({{1, 7, 63, 64, 65, 200}, {1, 7, 63, 64, 65, 200}, 2, D, true, true}, seed++, dt);
    }
}

TEST(AttentionTcGpu, VarlenSetsUpTo4096) {
  LESEG_SKIP_WITHOUT_TC();
  uint64_t seed = 2000;
  for (DType dt : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dt));
    compare({{1, 4096, 17, 1000, 2}, {1, 4096, 17, 1000, 2}, 2, 64, true, true}, seed++, dt);
    compare({{4096}, {4096}, 1, 16, false, false}, seed++, dt);
    compare({{0, 5, 300}, {9, 0, 700}, 3, 32, false, true}, seed++, dt);  // a set without queries, one without keys
  }
}

// erda2d: 20 class queries x ~100k pixel keys per image (split-KV, ordered combine).
TEST(AttentionTcGpu, CrossAttention20x100k) {
  LESEG_SKIP_WITHOUT_TC();
  uint64_t seed = 3000;
  for (DType dt : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dt));
    compare({{20, 20}, {100000, 61234}, 2, 32, true, true}, seed++, dt);
    compare({{20}, {100000}, 1, 64, false, false}, seed++, dt);
  }
}

TEST(AttentionTcGpu, BitwiseDeterministic) {
  LESEG_SKIP_WITHOUT_TC();
  for (const Config& c : {Config{{20, 20}, {100000, 5000}, 2, 64, true, true},
                          Config{{1000, 1000, 3}, {1000, 1000, 3}, 4, 32, true, true}}) {
    const Out a = run(c, Device::cuda(), 77, DType::bf16, AttentionVariant::tensor_core);
    const Out b = run(c, Device::cuda(), 77, DType::bf16, AttentionVariant::tensor_core);
    EXPECT_EQ(a.o, b.o);
    EXPECT_EQ(a.dq, b.dq);
    EXPECT_EQ(a.dk, b.dk);
    EXPECT_EQ(a.dv, b.dv);
    EXPECT_EQ(a.db, b.db);
  }
}

// Under train.precision bf16, f32 inputs run the tensor-core variant in bf16 and return bf16; the gradients
// flow back to the f32 leaves.
TEST(AttentionTcGpu, AutocastMatchesExplicitBf16) {
  LESEG_SKIP_WITHOUT_TC();
  const auto cu = Tensor::from_vector<int64_t>({0, 100, 300}, Shape{3}).to(Device::cuda());
  Tensor q = Tensor::randn(Shape{300, 2, 32}, 5, 0).to(Device::cuda()).requires_grad_();
  Tensor k = Tensor::randn(Shape{300, 2, 32}, 5, 1).to(Device::cuda()).requires_grad_();
  Tensor v = Tensor::randn(Shape{300, 2, 32}, 5, 2).to(Device::cuda()).requires_grad_();
  Tensor o;
  {
    PrecisionScope scope(Precision::bf16);
    o = attention(q, k, v, cu, cu);
  }
  EXPECT_EQ(o.dtype(), DType::bf16);
  const Tensor ref = attention(q.detach().to(DType::bf16), k.detach().to(DType::bf16), v.detach().to(DType::bf16), cu, cu);
  EXPECT_EQ(o.to(DType::f32).to_vector<float>(), ref.to(DType::f32).to_vector<float>());
  sum(o.to(DType::f32)).backward();
  EXPECT_EQ(q.grad().dtype(), DType::f32);
}

}  // namespace
}  // namespace leseg
