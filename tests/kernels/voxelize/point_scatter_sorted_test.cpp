// SPDX-License-Identifier: Apache-2.0
// The deterministic point_scatter's schedule (kernels/voxelize/point_scatter_sorted_math.h) replayed on the host:
// keys, a stable sort by key, run starts by lower bound, each (voxel, channel) summed over its run with add_term.
// It must give point_scatter_cpu's bits (the spec) on Gaussian data, where a different summation order changes
// them (checked: summing the runs backwards does not match); the same for half features with f32 weights
// (point_scatter_lowp_cpu is the spec of point_scatter_lowp_sorted_cuda).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/voxelize/point_scatter_sorted_math.h"
#include "kernels/voxelize/voxelize.h"

using namespace leseg::kernels;
namespace ss = leseg::kernels::scatter_sorted;

namespace {

struct Case {
  int64_t n, m, C;
  int corners;
  bool weighted;
};

template <class T>
struct Data {
  std::vector<T> g, w;
  std::vector<int32_t> idx;
};

template <class T>
Data<T> make(const Case& c, unsigned seed) {
  std::mt19937 r(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  Data<T> d;
  d.g.resize(size_t(c.n * c.C));
  for (auto& x : d.g) x = T(nd(r));
  d.idx.resize(size_t(c.n * c.corners));
  // Few voxels, many entries per voxel (runs of ~n·corners/m), some absent corners (-1).
  for (auto& j : d.idx) j = (r() % 7 == 0) ? -1 : int32_t(r() % uint32_t(c.m));
  if (c.weighted) {
    d.w.resize(d.idx.size());
    for (auto& x : d.w) x = T(std::abs(nd(r)));
  }
  return d;
}

// The kernels' schedule on the host; reverse = sum each run backwards (a different order).
template <class T>
std::vector<T> replay(const Data<T>& d, const Case& c, bool reverse = false) {
  const int64_t E = c.n * c.corners;
  std::vector<uint32_t> keys(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) keys[size_t(e)] = ss::key(d.idx[size_t(e)], c.m);
  std::vector<int32_t> pos(static_cast<size_t>(E));
  std::iota(pos.begin(), pos.end(), 0);
  std::stable_sort(pos.begin(), pos.end(), [&](int32_t a, int32_t b) { return keys[size_t(a)] < keys[size_t(b)]; });
  std::vector<uint32_t> sorted(static_cast<size_t>(E));
  for (int64_t p = 0; p < E; ++p) sorted[size_t(p)] = keys[size_t(pos[size_t(p)])];
  std::vector<int64_t> run(size_t(c.m + 1));
  for (int64_t j = 0; j <= c.m; ++j) run[size_t(j)] = ss::lower_bound(sorted.data(), E, uint32_t(j));
  if (reverse)  // a different order: every run backwards
    for (int64_t j = 0; j < c.m; ++j) std::reverse(pos.begin() + run[size_t(j)], pos.begin() + run[size_t(j + 1)]);
  // each output element as the kernel computes it (the same device function)
  std::vector<T> out(size_t(c.m * c.C));
  for (int64_t j = 0; j < c.m; ++j)
    for (int64_t ch = 0; ch < c.C; ++ch)
      out[size_t(j * c.C + ch)] = ss::run_sum<T>(pos.data(), run[size_t(j)], run[size_t(j + 1)], d.g.data(),
                                                 d.w.empty() ? nullptr : d.w.data(), int(c.corners), c.C, ch);
  return out;
}

// The same schedule for half features with f32 weights (point_scatter_lowp_sorted_cuda): sort, runs, run_sum_lowp.
template <class H>
std::vector<H> replay_lowp(const std::vector<H>& g, const std::vector<int32_t>& idx, const std::vector<float>& w,
                           const Case& c, bool reverse = false) {
  const int64_t E = c.n * c.corners;
  std::vector<int32_t> pos(static_cast<size_t>(E));
  std::iota(pos.begin(), pos.end(), 0);
  std::stable_sort(pos.begin(), pos.end(),
                   [&](int32_t a, int32_t b) { return ss::key(idx[size_t(a)], c.m) < ss::key(idx[size_t(b)], c.m); });
  std::vector<uint32_t> sorted(static_cast<size_t>(E));
  for (int64_t p = 0; p < E; ++p) sorted[size_t(p)] = ss::key(idx[size_t(pos[size_t(p)])], c.m);
  std::vector<int64_t> run(size_t(c.m + 1));
  for (int64_t j = 0; j <= c.m; ++j) run[size_t(j)] = ss::lower_bound(sorted.data(), E, uint32_t(j));
  if (reverse)
    for (int64_t j = 0; j < c.m; ++j) std::reverse(pos.begin() + run[size_t(j)], pos.begin() + run[size_t(j + 1)]);
  std::vector<H> out(size_t(c.m * c.C));
  for (int64_t j = 0; j < c.m; ++j)
    for (int64_t ch = 0; ch < c.C; ++ch)
      out[size_t(j * c.C + ch)] = ss::run_sum_lowp<H>(pos.data(), run[size_t(j)], run[size_t(j + 1)], g.data(),
                                                      w.empty() ? nullptr : w.data(), int(c.corners), c.C, ch);
  return out;
}

template <class H>
void check_lowp() {
  for (Case c : {Case{500, 13, 3, 1, true}, Case{500, 13, 3, 1, false}, Case{300, 40, 5, 8, true},
                 Case{1, 4, 2, 8, true}, Case{0, 4, 2, 1, false}, Case{97, 1, 1, 8, false}}) {
    const Data<float> d = make<float>(c, 11);  // Gaussian features stored as H, f32 weights
    std::vector<H> g(d.g.size());
    for (size_t k = 0; k < g.size(); ++k) g[k] = leseg::store_acc<H>(d.g[k]);
    std::vector<H> ref(size_t(c.m * c.C));
    std::vector<float> acc(size_t(std::max<int64_t>(1, c.m * c.C)));
    point_scatter_lowp_cpu<H>(g.data(), d.idx.data(), d.w.empty() ? nullptr : d.w.data(), c.n, c.corners, c.C, c.m,
                              acc.data(), ref.data());
    const std::vector<H> got = replay_lowp<H>(g, d.idx, d.w, c);
    ASSERT_EQ(got.size(), ref.size());
    EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * sizeof(H)))
        << "n=" << c.n << " m=" << c.m << " corners=" << c.corners << " weighted=" << c.weighted;
  }
}

// One voxel, six unit features with weights 1, t, e, e, e, e where 1 + t is a tie of H's rounding (t = 2^-11 for f16,
// 2^-8 for bf16) and e = 2^-25 is a quarter of f32's ulp at 1: in the twin's order each e is lost (the f32 sum stays
// at the tie, which rounds to even: 1); summed backwards the four e make one ulp first and the sum lands above the
// tie (1 + 2t). So the half parity is not vacuous: an order other than the twin's changes the stored bits.
template <class H>
void check_lowp_order_matters(int tie_exp) {
  const Case c{6, 1, 1, 1, true};
  const float t = std::ldexp(1.f, -tie_exp), e = std::ldexp(1.f, -25);
  const std::vector<float> w{1.f, t, e, e, e, e};
  const std::vector<H> g(6, leseg::store_acc<H>(1.f));
  const std::vector<int32_t> idx(6, 0);
  std::vector<H> ref(1);
  std::vector<float> acc(1);
  point_scatter_lowp_cpu<H>(g.data(), idx.data(), w.data(), c.n, c.corners, c.C, c.m, acc.data(), ref.data());
  EXPECT_EQ(leseg::load_acc(ref[0]), 1.f);
  const std::vector<H> got = replay_lowp<H>(g, idx, w, c), rev = replay_lowp<H>(g, idx, w, c, /*reverse=*/true);
  EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), sizeof(H)));
  EXPECT_EQ(leseg::load_acc(rev[0]), 1.f + 2.f * t);
}

template <class T>
std::vector<T> twin(const Data<T>& d, const Case& c) {
  std::vector<T> out(size_t(c.m * c.C), T(-7));
  point_scatter_cpu<T>(d.g.data(), d.idx.data(), d.w.empty() ? nullptr : d.w.data(), c.n, c.corners, c.C, c.m,
                       out.data());
  return out;
}

template <class T>
void check_all() {
  for (Case c : {Case{500, 13, 3, 1, true}, Case{500, 13, 3, 1, false}, Case{300, 40, 5, 8, true},
                 Case{1, 4, 2, 8, true}, Case{0, 4, 2, 1, false}, Case{97, 1, 1, 8, false}}) {
    const Data<T> d = make<T>(c, 11);
    const std::vector<T> ref = twin(d, c), got = replay(d, c);
    ASSERT_EQ(got.size(), ref.size());
    EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * sizeof(T)))
        << "n=" << c.n << " m=" << c.m << " corners=" << c.corners << " weighted=" << c.weighted;
  }
}

}  // namespace

TEST(PointScatterSorted, KeysSkipAbsentAndOutOfRangeEntries) {
  EXPECT_EQ(ss::key(0, 5), 0u);
  EXPECT_EQ(ss::key(4, 5), 4u);
  EXPECT_EQ(ss::key(-1, 5), 5u);
  EXPECT_EQ(ss::key(5, 5), 5u);
  EXPECT_EQ(ss::key(1 << 30, 5), 5u);
}

TEST(PointScatterSorted, KeyBitsCoverTheSkipKey) {
  for (int64_t m : std::vector<int64_t>{0, 1, 2, 3, 255, 256, 1000, (int64_t(1) << 31) - 1}) {
    const int b = ss::key_bits(m);
    EXPECT_GT(uint64_t(1) << b, uint64_t(m)) << m;  // key m itself must fit
    if (b > 1) {
      EXPECT_LE(uint64_t(1) << (b - 1), uint64_t(m)) << m;  // and no more bits than that
    }
  }
}

TEST(PointScatterSorted, LowerBoundFindsRunStarts) {
  const std::vector<uint32_t> k{0, 0, 2, 2, 2, 5, 5};
  EXPECT_EQ(ss::lower_bound(k.data(), 7, 0), 0);
  EXPECT_EQ(ss::lower_bound(k.data(), 7, 1), 2);
  EXPECT_EQ(ss::lower_bound(k.data(), 7, 2), 2);
  EXPECT_EQ(ss::lower_bound(k.data(), 7, 3), 5);
  EXPECT_EQ(ss::lower_bound(k.data(), 7, 5), 5);
  EXPECT_EQ(ss::lower_bound(k.data(), 7, 6), 7);
  EXPECT_EQ(ss::lower_bound(k.data(), 0, 0), 0);
}

TEST(PointScatterSorted, ScheduleGivesTheCpuTwinsBitsF32) { check_all<float>(); }
TEST(PointScatterSorted, ScheduleGivesTheCpuTwinsBitsF64) { check_all<double>(); }
// Half features with f32 weights (point_scatter_lowp_sorted_cuda): the twin's bits, and an order that matters.
TEST(PointScatterSorted, LowpScheduleGivesTheCpuTwinsBitsF16) { check_lowp<leseg::f16_t>(); }
TEST(PointScatterSorted, LowpScheduleGivesTheCpuTwinsBitsBf16) { check_lowp<leseg::bf16_t>(); }
TEST(PointScatterSorted, LowpAnotherOrderChangesTheBits) {
  check_lowp_order_matters<leseg::f16_t>(11);
  check_lowp_order_matters<leseg::bf16_t>(8);
}

// The parity above is not vacuous: the same runs summed backwards differ from the twin somewhere.
TEST(PointScatterSorted, AnotherOrderChangesTheBits) {
  const Case c{500, 13, 3, 1, true};
  const Data<float> d = make<float>(c, 11);
  const std::vector<float> ref = twin(d, c), rev = replay(d, c, /*reverse=*/true);
  EXPECT_NE(0, std::memcmp(rev.data(), ref.data(), ref.size() * sizeof(float)));
}
