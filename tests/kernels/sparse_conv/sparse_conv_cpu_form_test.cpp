// SPDX-License-Identifier: Apache-2.0
// The two forms of the CPU sparse conv (kernels/sparse_conv/sparse_conv_cpu.h) compute the same sums: the
// output-stationary form (over the neighbour tables) agrees with gather-GEMM-scatter to float rounding (float64:
// 1e-12), in both orientations of a map (a transposed conv reads it swapped); it gives the same bits on a repeated
// run and for 1, 2 and 3 threads; a map without neighbour tables falls back to gather-GEMM-scatter (same bits).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/kernel_map/kernel_map.h"
#include "kernels/sparse_conv/sparse_conv.h"
#include "kernels/sparse_conv/sparse_conv_cpu.h"

using namespace leseg::kernels;

namespace {

struct FormGuard {
  CpuConvForm prev = sparse_conv_cpu_form_setting();
  int threads = omp_get_max_threads();
  ~FormGuard() {
    set_sparse_conv_cpu_form(prev);
    omp_set_num_threads(threads);
  }
};

// A map injective both ways per offset (as a real kernel map is), pairs sorted by output, with its two
// neighbour tables.
struct Map {
  int64_t V, n_in, n_out;
  std::vector<int32_t> in, out, nbr_out, nbr_in;
  std::vector<int64_t> offsets;
  ConvMap view(bool with_nbr, bool transposed) const {
    ConvMap m;
    m.in_idx = in.data();
    m.out_idx = out.data();
    m.offsets = offsets.data();
    m.volume = V;
    if (with_nbr) m.nbr_out = nbr_out.data(), m.nbr_in = nbr_in.data();
    if (transposed) std::swap(m.in_idx, m.out_idx), std::swap(m.nbr_out, m.nbr_in);
    return m;
  }
};
Map random_map(int64_t V, int64_t n_in, int64_t n_out, double density, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Map r{V, n_in, n_out, {}, {}, {}, {}, {0}};
  std::vector<int32_t> perm(static_cast<size_t>(n_in));
  for (int64_t k = 0; k < V; ++k) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), g);
    size_t next = 0;
    for (int64_t j = 0; j < n_out && next < perm.size(); ++j)
      if (u(g) < density) {
        r.in.push_back(perm[next++]);
        r.out.push_back(int32_t(j));
      }
    r.offsets.push_back(int64_t(r.in.size()));
  }
  r.nbr_out.resize(size_t(V * n_out));
  r.nbr_in.resize(size_t(V * n_in));
  kernel_map_invert_cpu(r.out.data(), r.in.data(), r.offsets.data(), V, n_out, r.nbr_out.data());
  kernel_map_invert_cpu(r.in.data(), r.out.data(), r.offsets.data(), V, n_in, r.nbr_in.data());
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
struct Out {
  std::vector<T> y, gx, gw, gb;
};

template <class T>
Out<T> run(CpuConvForm form, const Map& mp, bool with_nbr, bool transposed, int64_t ci, int64_t co) {
  set_sparse_conv_cpu_form(form);
  const ConvMap m = mp.view(with_nbr, transposed);
  const int64_t n_in = transposed ? mp.n_out : mp.n_in, n_out = transposed ? mp.n_in : mp.n_out, V = mp.V;
  auto x = randn<T>(size_t(n_in * ci), 1), w = randn<T>(size_t(V * ci * co), 2), b = randn<T>(size_t(co), 3),
       gy = randn<T>(size_t(n_out * co), 4);
  std::vector<T> ws(size_t(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, ci, co))));
  Out<T> o;
  o.y.assign(size_t(n_out * co), T(7));  // overwritten, not accumulated
  o.gx.assign(size_t(n_in * ci), T(7));
  o.gw.assign(size_t(V * ci * co), T(7));
  o.gb.assign(size_t(co), T(7));
  sparse_conv_forward_cpu<T>(x.data(), w.data(), b.data(), m, n_in, n_out, ci, co, o.y.data(), ws.data());
  sparse_conv_backward_cpu<T>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, o.gx.data(), o.gw.data(),
                              o.gb.data(), ws.data());
  return o;
}

template <class T>
double max_rel(const std::vector<T>& a, const std::vector<T>& b) {
  double e = 0, s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    e = std::max(e, std::fabs(double(a[i]) - double(b[i])));
    s = std::max(s, std::fabs(double(b[i])));
  }
  return s > 0 ? e / s : e;
}
template <class T>
bool same_bits(const Out<T>& a, const Out<T>& b) {
  auto eq = [](const std::vector<T>& u, const std::vector<T>& v) {
    return u.size() == v.size() && std::memcmp(u.data(), v.data(), u.size() * sizeof(T)) == 0;
  };
  return eq(a.y, b.y) && eq(a.gx, b.gx) && eq(a.gw, b.gw) && eq(a.gb, b.gb);
}

}  // namespace

TEST(SparseConvCpuForm, NamesAndAuto) {
  FormGuard g;
  EXPECT_STREQ(cpu_conv_form_name(CpuConvForm::OutputStationary), "os");
  EXPECT_STREQ(cpu_conv_form_name(CpuConvForm::GatherScatter), "gather");
  set_sparse_conv_cpu_form(CpuConvForm::Auto);
  EXPECT_NE(sparse_conv_cpu_form(32, 32), CpuConvForm::Auto);
  set_sparse_conv_cpu_form(CpuConvForm::GatherScatter);
  EXPECT_FALSE(sparse_conv_cpu_wants_nbr(32, 32));
  set_sparse_conv_cpu_form(CpuConvForm::OutputStationary);
  EXPECT_TRUE(sparse_conv_cpu_wants_nbr(32, 32));
}

TEST(SparseConvCpuForm, OutputStationaryMatchesGatherScatterBothOrientations) {
  FormGuard g;
  // n_out not a multiple of the 128-row block; C_in != C_out; some offsets empty (density 0 for the last ones)
  Map mp = random_map(27, 700, 650, 0.35, 11);
  for (int64_t k = 24; k < 27; ++k) mp.offsets[size_t(k + 1)] = mp.offsets[size_t(k)];  // offsets 24..26 empty
  mp.in.resize(size_t(mp.offsets.back())), mp.out.resize(mp.in.size());
  mp.nbr_out.assign(mp.nbr_out.size(), 0), mp.nbr_in.assign(mp.nbr_in.size(), 0);
  kernel_map_invert_cpu(mp.out.data(), mp.in.data(), mp.offsets.data(), 27, mp.n_out, mp.nbr_out.data());
  kernel_map_invert_cpu(mp.in.data(), mp.out.data(), mp.offsets.data(), 27, mp.n_in, mp.nbr_in.data());
  for (bool transposed : {false, true}) {
    SCOPED_TRACE(transposed ? "transposed" : "forward orientation");
    const auto a = run<float>(CpuConvForm::OutputStationary, mp, true, transposed, 24, 40);
    const auto b = run<float>(CpuConvForm::GatherScatter, mp, true, transposed, 24, 40);
    EXPECT_LT(max_rel(a.y, b.y), 1e-5);
    EXPECT_LT(max_rel(a.gx, b.gx), 1e-5);
    EXPECT_LT(max_rel(a.gw, b.gw), 1e-5);
    EXPECT_LT(max_rel(a.gb, b.gb), 1e-6);
    const auto ad = run<double>(CpuConvForm::OutputStationary, mp, true, transposed, 24, 40);
    const auto bd = run<double>(CpuConvForm::GatherScatter, mp, true, transposed, 24, 40);
    EXPECT_LT(max_rel(ad.y, bd.y), 1e-12);
    EXPECT_LT(max_rel(ad.gx, bd.gx), 1e-12);
    EXPECT_LT(max_rel(ad.gw, bd.gw), 1e-12);
    // not trivially zero
    EXPECT_GT(*std::max_element(a.gx.begin(), a.gx.end()), 1.f);
  }
}

TEST(SparseConvCpuForm, OutputStationarySameBitsRepeatedAndAcrossThreadCounts) {
  FormGuard g;
  const Map mp = random_map(27, 900, 1000, 0.3, 5);
  omp_set_num_threads(1);
  const auto ref = run<float>(CpuConvForm::OutputStationary, mp, true, false, 32, 32);
  for (int t : {1, 2, 3}) {
    SCOPED_TRACE(t);
    omp_set_num_threads(t);
    EXPECT_TRUE(same_bits(run<float>(CpuConvForm::OutputStationary, mp, true, false, 32, 32), ref));
    // gather-scatter: same bits on a repeated run at this thread count
    const auto g1 = run<float>(CpuConvForm::GatherScatter, mp, true, false, 32, 32);
    EXPECT_TRUE(same_bits(run<float>(CpuConvForm::GatherScatter, mp, true, false, 32, 32), g1));
  }
}

TEST(SparseConvCpuForm, MapWithoutTablesFallsBackToGatherScatter) {
  FormGuard g;
  const Map mp = random_map(8, 300, 200, 0.5, 3);
  const auto os_no_tables = run<float>(CpuConvForm::OutputStationary, mp, false, false, 16, 8);
  const auto gather = run<float>(CpuConvForm::GatherScatter, mp, false, false, 16, 8);
  EXPECT_TRUE(same_bits(os_no_tables, gather));
}
