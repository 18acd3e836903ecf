// SPDX-License-Identifier: Apache-2.0
// Run-time ISA dispatch (kernels/common/isa.h): the baseline, x86-64-v3 and x86-64-v4 copies of the CPU sparse
// conv, matmul and fused BN + ReLU agree (float: within rounding, FMA contraction and vector width differ; double:
// 1e-12), each copy gives the same bits on a repeated run, and the chosen path has a name. Skips the cross-copy
// comparison, saying so, where no wide copy is available (not built, or a CPU without AVX2/FMA); a copy this CPU
// cannot run (e.g. AVX-512) is named in the test output as not checked.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/batch_norm/batch_norm_relu_cpu.h"
#include "kernels/common/isa.h"
#include "kernels/matmul/matmul.h"
#include "kernels/sparse_conv/sparse_conv.h"

using namespace leseg::kernels;

namespace {

struct IsaGuard {
  CpuIsa prev = cpu_isa();
  ~IsaGuard() { set_cpu_isa(prev); }
};

// A random kernel map: V offsets, each a random injective partial map in -> out (distinct outputs per offset),
// pairs sorted by output as the kernel-map build makes them.
struct RandomMap {
  std::vector<int32_t> in, out;
  std::vector<int64_t> offsets;
  ConvMap view(int64_t V) const {
    ConvMap m;
    m.in_idx = in.data();
    m.out_idx = out.data();
    m.offsets = offsets.data();
    m.volume = V;
    return m;
  }
};
RandomMap random_map(int64_t V, int64_t n_in, int64_t n_out, double density, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(n_in - 1));
  RandomMap r;
  r.offsets.push_back(0);
  for (int64_t k = 0; k < V; ++k) {
    for (int64_t j = 0; j < n_out; ++j)
      if (u(g) < density) {
        r.in.push_back(pick(g));
        r.out.push_back(int32_t(j));
      }
    r.offsets.push_back(int64_t(r.in.size()));
  }
  return r;
}

template <class T>
std::vector<T> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0, 1);
  std::vector<T> v(n);
  for (auto& x : v) x = T(d(g));
  return v;
}

template <class T>
struct ConvOut {
  std::vector<T> y, gx, gw, gb;
};

template <class T>
ConvOut<T> run_conv(CpuIsa isa, const RandomMap& rm, int64_t V, int64_t n_in, int64_t n_out, int64_t ci, int64_t co) {
  set_cpu_isa(isa);
  const ConvMap m = rm.view(V);
  auto x = randn<T>(size_t(n_in * ci), 1), w = randn<T>(size_t(V * ci * co), 2), b = randn<T>(size_t(co), 3),
       gy = randn<T>(size_t(n_out * co), 4);
  std::vector<T> ws(size_t(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, ci, co))));
  ConvOut<T> o;
  o.y.resize(size_t(n_out * co));
  o.gx.resize(size_t(n_in * ci));
  o.gw.resize(size_t(V * ci * co));
  o.gb.resize(size_t(co));
  sparse_conv_forward_cpu<T>(x.data(), w.data(), b.data(), m, n_in, n_out, ci, co, o.y.data(), ws.data());
  sparse_conv_backward_cpu<T>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, o.gx.data(), o.gw.data(),
                              o.gb.data(), ws.data());
  return o;
}

template <class A, class B>
double max_rel(const std::vector<A>& a, const std::vector<B>& b) {
  double e = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e = std::max(e, std::fabs(double(a[i]) - double(b[i])));
    s = std::max(s, std::fabs(double(b[i])));
  }
  return s > 0 ? e / s : e;
}
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace

// The wide copies this machine can run (printed, so a log says which were checked).
static std::vector<CpuIsa> wide_isas() {
  std::vector<CpuIsa> v;
  for (CpuIsa isa : {CpuIsa::X86V3, CpuIsa::X86V4}) {
    if (cpu_isa_available(isa)) v.push_back(isa);
    else std::printf("[ isa ] %s copy %s: not checked here\n", cpu_isa_name(isa),
                     cpu_isa_built(isa) ? "built, but this CPU cannot run it" : "not built");
  }
  return v;
}

TEST(IsaDispatch, NamesAndAvailability) {
  EXPECT_TRUE(cpu_isa_available(CpuIsa::Baseline));
  EXPECT_STREQ(cpu_isa_name(CpuIsa::Baseline), "baseline");
  EXPECT_STREQ(cpu_isa_name(CpuIsa::X86V3), "x86-64-v3");
  EXPECT_STREQ(cpu_isa_name(CpuIsa::X86V4), "x86-64-v4");
  EXPECT_NE(std::string(cpu_isa_summary()).find(cpu_isa_name(cpu_isa())), std::string::npos);
  for (CpuIsa isa : {CpuIsa::X86V3, CpuIsa::X86V4})
    if (!cpu_isa_available(isa)) EXPECT_THROW(set_cpu_isa(isa), std::invalid_argument);
  // auto (no LESEG_ISA in the test environment) picks the widest copy available
  if (std::getenv("LESEG_ISA") == nullptr) {
    const CpuIsa widest = cpu_isa_available(CpuIsa::X86V4)   ? CpuIsa::X86V4
                          : cpu_isa_available(CpuIsa::X86V3) ? CpuIsa::X86V3
                                                             : CpuIsa::Baseline;
    EXPECT_EQ(cpu_isa(), widest) << cpu_isa_summary();
  }
}

// Every copy: repeated runs give identical bits; each wide copy agrees with the baseline to rounding.
TEST(IsaDispatch, SparseConvCopiesAgreeAndAreDeterministic) {
  IsaGuard guard;
  const int64_t V = 27, n_in = 700, n_out = 650, ci = 48, co = 40;
  const RandomMap rm = random_map(V, n_in, n_out, 0.4, 7);
  std::vector<CpuIsa> isas{CpuIsa::Baseline};
  for (CpuIsa isa : wide_isas()) isas.push_back(isa);
  std::vector<ConvOut<float>> outs;
  for (CpuIsa isa : isas) {
    SCOPED_TRACE(cpu_isa_name(isa));
    auto a = run_conv<float>(isa, rm, V, n_in, n_out, ci, co), b = run_conv<float>(isa, rm, V, n_in, n_out, ci, co);
    EXPECT_TRUE(same_bits(a.y, b.y));
    EXPECT_TRUE(same_bits(a.gx, b.gx));
    EXPECT_TRUE(same_bits(a.gw, b.gw));
    EXPECT_TRUE(same_bits(a.gb, b.gb));
    outs.push_back(std::move(a));
  }
  if (outs.size() < 2) GTEST_SKIP() << "no wide copy available here: only the baseline copy was checked";
  auto d0 = run_conv<double>(CpuIsa::Baseline, rm, V, n_in, n_out, ci, co);
  EXPECT_LT(max_rel(outs[0].gw, d0.gw), 1e-5);  // the float result is the float64 result to float rounding
  for (size_t k = 1; k < isas.size(); ++k) {
    SCOPED_TRACE(cpu_isa_name(isas[k]));
    EXPECT_LT(max_rel(outs[k].y, outs[0].y), 1e-5);
    EXPECT_LT(max_rel(outs[k].gx, outs[0].gx), 1e-5);
    EXPECT_LT(max_rel(outs[k].gw, outs[0].gw), 1e-5);
    EXPECT_LT(max_rel(outs[k].gb, outs[0].gb), 1e-6);
    auto d1 = run_conv<double>(isas[k], rm, V, n_in, n_out, ci, co);
    EXPECT_LT(max_rel(d1.y, d0.y), 1e-12);
    EXPECT_LT(max_rel(d1.gw, d0.gw), 1e-12);
    EXPECT_LT(max_rel(outs[k].gw, d0.gw), 1e-5);
  }
}

TEST(IsaDispatch, MatmulCopiesAgree) {
  IsaGuard guard;
  const std::vector<CpuIsa> wide = wide_isas();
  if (wide.empty()) GTEST_SKIP() << "no wide copy available here";
  GemmShape s;
  s.m = 300, s.n = 70, s.k = 130, s.trans_b = true;
  auto a = randn<float>(size_t(s.m * s.k), 5), b = randn<float>(size_t(s.n * s.k), 6);
  std::vector<float> c0(size_t(s.m * s.n));
  set_cpu_isa(CpuIsa::Baseline);
  matmul_cpu<float>(a.data(), b.data(), c0.data(), s, 0.f);
  for (CpuIsa isa : wide) {
    SCOPED_TRACE(cpu_isa_name(isa));
    std::vector<float> c1(c0.size());
    set_cpu_isa(isa);
    matmul_cpu<float>(a.data(), b.data(), c1.data(), s, 0.f);
    EXPECT_LT(max_rel(c1, c0), 1e-5);
    EXPECT_FALSE(same_bits(c1, std::vector<float>(c1.size(), 0.f)));
  }
}

// The fused BN + ReLU (+ residual) copies: forward and backward agree with the baseline to rounding.
TEST(IsaDispatch, BatchNormReluCopiesAgree) {
  IsaGuard guard;
  const std::vector<CpuIsa> wide = wide_isas();
  if (wide.empty()) GTEST_SKIP() << "no wide copy available here";
  const int64_t N = 1000, C = 37;  // C not a multiple of any vector width
  auto x = randn<float>(size_t(N * C), 11), r = randn<float>(size_t(N * C), 12), g = randn<float>(size_t(N * C), 13);
  auto w = randn<float>(size_t(C), 14), bias = randn<float>(size_t(C), 15);
  struct Out { std::vector<float> mean, var, y, dx, dw, db, dr; };
  auto run = [&](CpuIsa isa) {
    set_cpu_isa(isa);
    Out o{std::vector<float>(C), std::vector<float>(C), std::vector<float>(N * C), std::vector<float>(N * C),
          std::vector<float>(C), std::vector<float>(C), std::vector<float>(N * C)};
    batch_norm_stats_onepass_cpu<float>(x.data(), N, C, o.mean.data(), o.var.data());
    std::vector<float> rstd(C);
    for (int64_t c = 0; c < C; ++c) rstd[size_t(c)] = 1.f / std::sqrt(o.var[size_t(c)] + 1e-5f);
    batch_norm_relu_forward_cpu<float>(x.data(), o.mean.data(), rstd.data(), w.data(), bias.data(), r.data(),
                                       o.y.data(), N, C);
    batch_norm_relu_backward_cpu<float>(g.data(), o.y.data(), x.data(), o.mean.data(), rstd.data(), w.data(), N, C,
                                        true, o.dx.data(), o.dw.data(), o.db.data(), o.dr.data());
    return o;
  };
  const Out o0 = run(CpuIsa::Baseline);
  for (CpuIsa isa : wide) {
    SCOPED_TRACE(cpu_isa_name(isa));
    const Out o1 = run(isa), o2 = run(isa);
    EXPECT_TRUE(same_bits(o1.y, o2.y) && same_bits(o1.dx, o2.dx) && same_bits(o1.dw, o2.dw));
    EXPECT_LT(max_rel(o1.mean, o0.mean), 1e-5);
    EXPECT_LT(max_rel(o1.var, o0.var), 1e-5);
    EXPECT_LT(max_rel(o1.y, o0.y), 1e-5);
    EXPECT_LT(max_rel(o1.dx, o0.dx), 1e-4);
    EXPECT_LT(max_rel(o1.dw, o0.dw), 1e-5);
    EXPECT_LT(max_rel(o1.db, o0.db), 1e-5);
    EXPECT_LT(max_rel(o1.dr, o0.dr), 1e-5);
  }
}
