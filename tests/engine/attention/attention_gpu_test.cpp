// SPDX-License-Identifier: Apache-2.0
// CUDA fused attention vs the CPU twin (f32): output and gradients into q, k, v and the per-key bias, for
// every specialised head dim, self- and cross-attention, ragged batches with lengths 1, 7, 1024 and
// lengths not a multiple of the tile, key masks (including a fully masked sequence) and i32/i64 offsets.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/autograd.h"
#include "engine/ops/attention.h"

namespace leseg {
namespace {

struct Config {
  std::vector<int64_t> lq, lk;
  int64_t H, D;
  bool mask, bias;
  DType cu_dtype;
};

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> cu{0};
  for (auto l : lens) cu.push_back(cu.back() + l);
  return cu;
}

struct Out {
  std::vector<float> o, dq, dk, dv, db;
};

// Inputs drawn in f32, stored as `dt` (f32, f16 or bf16); outputs and gradients read back as f32.
Out run(const Config& c, Device dev, uint64_t seed, DType dt = DType::f32) {
  const auto cq = offsets(c.lq), ck = offsets(c.lk);
  const int64_t Tq = cq.back(), Tk = ck.back();
  Tensor q = Tensor::randn(Shape{Tq, c.H, c.D}, seed, 0).to(dt).to(dev).requires_grad_();
  Tensor k = Tensor::randn(Shape{Tk, c.H, c.D}, seed, 1).to(dt).to(dev).requires_grad_();
  Tensor v = Tensor::randn(Shape{Tk, c.H, c.D}, seed, 2).to(dt).to(dev).requires_grad_();
  Tensor dout = Tensor::randn(Shape{Tq, c.H, c.D}, seed, 3).to(dt).to(dev);
  AttentionOptions opts;
  opts.variant = AttentionVariant::reference;  // the scalar kernel; the tensor-core one: attention_tc_gpu_test.cpp
  Tensor bias;
  if (c.bias) {
    bias = Tensor::randn(Shape{Tk, c.H}, seed, 4).to(dt).to(dev).requires_grad_();
    opts.key_bias = bias;
  }
  if (c.mask) {
    std::vector<uint8_t> m(static_cast<size_t>(Tk));
    std::mt19937 g{static_cast<uint32_t>(seed)};
    for (auto& x : m) x = uint8_t(g() % 4 == 0);
    // last sequence fully masked
    for (int64_t j = ck[ck.size() - 2]; j < Tk; ++j) m[size_t(j)] = 1;
    opts.key_mask = Tensor::from_vector(m, Shape{Tk}, dev);
  }
  Tensor cu_q = Tensor::from_vector(cq, Shape{int64_t(cq.size())}).to(c.cu_dtype).to(dev);
  Tensor cu_k = Tensor::from_vector(ck, Shape{int64_t(ck.size())}).to(c.cu_dtype).to(dev);
  Tensor o = attention(q, k, v, cu_q, cu_k, opts);
  o.backward(dout);
  Out r{o.to_vector<float>(), q.grad().to_vector<float>(), k.grad().to_vector<float>(), v.grad().to_vector<float>(), {}};
  if (c.bias) r.db = bias.grad().to_vector<float>();
  return r;
}

// f32 accumulation on the GPU vs the CPU twin's, over up to 1024 keys; for half storage `ulp` adds the
// half-ulp-apart roundings of the two sides (relative 2^-10 f16, 2^-7 bf16, twice: o feeds the gradients).
void expect_close(const char* what, const std::vector<float>& gpu, const std::vector<float>& cpu, double ulp = 0.0) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  int bad = 0;
  bool nonzero = false;
  const double atol = 5e-5 + 2 * ulp, rtol = 5e-4 + 2 * ulp;
  for (size_t i = 0; i < cpu.size(); ++i) {
    nonzero |= cpu[i] != 0.f;
    if (!(std::abs(gpu[i] - cpu[i]) <= atol + rtol * std::abs(cpu[i])) && bad++ < 6) {
      ADD_FAILURE() << what << "[" << i << "]: cuda " << gpu[i] << " vs cpu " << cpu[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << cpu.size() << " differ";
  EXPECT_TRUE(nonzero) << what << ": all zero";
}

TEST(AttentionGpu, MatchesCpuTwin) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const std::vector<Config> configs = {
      {{1, 7, 1024}, {1, 7, 1024}, 2, 16, false, false, DType::i64},
      {{33, 65, 5}, {33, 65, 5}, 3, 32, true, true, DType::i32},
      {{20, 3}, {1000, 77}, 2, 64, true, true, DType::i64},  // class queries over many keys
      {{100, 31}, {3, 40}, 1, 128, false, true, DType::i32},
      {{129}, {129}, 8, 64, false, false, DType::i64},
  };
  uint64_t seed = 100;
  for (const auto& c : configs) {
    SCOPED_TRACE("H = " + std::to_string(c.H) + ", D = " + std::to_string(c.D));
    const Out cpu = run(c, Device::cpu(), seed), gpu = run(c, Device::cuda(), seed);
    expect_close("o", gpu.o, cpu.o);
    expect_close("dq", gpu.dq, cpu.dq);
    expect_close("dk", gpu.dk, cpu.dk);
    expect_close("dv", gpu.dv, cpu.dv);
    if (c.bias) expect_close("dbias", gpu.db, cpu.db);
    ++seed;
  }
}

TEST(AttentionGpu, HalfInputsMatchCpuTwin) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const std::vector<Config> configs = {
      {{1, 7, 300}, {1, 7, 300}, 2, 16, true, true, DType::i64},
      {{20, 3}, {1000, 77}, 2, 64, true, true, DType::i32},
      {{129}, {129}, 4, 128, false, false, DType::i64},
  };
  uint64_t seed = 300;
  for (DType dt : {DType::f16, DType::bf16}) {
    const double ulp = dt == DType::f16 ? 1.0 / 1024 : 1.0 / 128;
    for (const auto& c : configs) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " H = " + std::to_string(c.H) + ", D = " + std::to_string(c.D));
      const Out cpu = run(c, Device::cpu(), seed, dt), gpu = run(c, Device::cuda(), seed, dt);
      expect_close("o", gpu.o, cpu.o, ulp);
      expect_close("dq", gpu.dq, cpu.dq, ulp);
      expect_close("dk", gpu.dk, cpu.dk, ulp);
      expect_close("dv", gpu.dv, cpu.dv, ulp);
      if (c.bias) expect_close("dbias", gpu.db, cpu.db, ulp);
      ++seed;
    }
  }
}

// erda2d's shape: 20 class queries cross-attending over ~100k pixel keys, two images, with mask and bias, in f32 and
// both half types. The dq rows sum over 100k keys: f32 accumulation in a different order on each side, so the
// tolerance grows by a few f32 ulps times sqrt(keys) (about 2e-4 relative) on top of the half roundings.
TEST(AttentionGpu, FewQueriesOverManyKeys) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Config c{{20, 20}, {100000, 61234}, 2, 64, true, true, DType::i64};
  uint64_t seed = 700;
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dt));
    const double ulp = (dt == DType::f16 ? 1.0 / 1024 : dt == DType::bf16 ? 1.0 / 128 : 0.0) + 2e-4;
    const Out cpu = run(c, Device::cpu(), seed, dt), gpu = run(c, Device::cuda(), seed, dt);
    expect_close("o", gpu.o, cpu.o, ulp);
    expect_close("dq", gpu.dq, cpu.dq, ulp);
    expect_close("dk", gpu.dk, cpu.dk, ulp);
    expect_close("dv", gpu.dv, cpu.dv, ulp);
    expect_close("dbias", gpu.db, cpu.db, ulp);
    ++seed;
  }
}

// Head dims the scalar kernel is not specialised for run zero-padded to the next of 16/32/64/128.
TEST(AttentionGpu, F32PadsOtherHeadDims) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  uint64_t seed = 900;
  for (int64_t D : {8, 24, 48, 80, 96}) {
    SCOPED_TRACE("D = " + std::to_string(D));
    const Config c{{1, 70, 33}, {1, 70, 33}, 2, D, true, true, DType::i64};
    const Out cpu = run(c, Device::cpu(), seed), gpu = run(c, Device::cuda(), seed);
    expect_close("o", gpu.o, cpu.o);
    expect_close("dq", gpu.dq, cpu.dq);
    expect_close("dk", gpu.dk, cpu.dk);
    expect_close("dv", gpu.dv, cpu.dv);
    expect_close("dbias", gpu.db, cpu.db);
    ++seed;
  }
}

TEST(AttentionGpu, RejectsUnsupportedHeadDimAndF64) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  Tensor cu = Tensor::from_vector<int64_t>({0, 4}, Shape{2});
  Tensor q = Tensor::zeros(Shape{4, 1, 130}, DType::f32, Device::cuda());
  EXPECT_THROW(attention(q, q, q, cu, cu), Error);
  Tensor q64 = Tensor::zeros(Shape{4, 1, 16}, DType::f64, Device::cuda());
  EXPECT_THROW(attention(q64, q64, q64, cu, cu), Error);
}

}  // namespace
}  // namespace leseg
