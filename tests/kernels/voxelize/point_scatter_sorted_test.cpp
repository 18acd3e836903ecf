// SPDX-License-Identifier: Apache-2.0
// The deterministic point_scatter's schedule (kernels/voxelize/point_scatter_sorted_math.h) replayed on the host:
// keys, a stable sort by key, run starts by lower bound, each (voxel, channel) summed over its run with add_term.
// It must give point_scatter_cpu's bits (the spec) on Gaussian data, where a different summation order changes
// them (checked: summing the runs backwards does not match).
#include <gtest/gtest.h>

#include <algorithm>
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
  std::vector<T> out(size_t(c.m * c.C));
  for (int64_t j = 0; j < c.m; ++j)
    for (int64_t ch = 0; ch < c.C; ++ch) {
      T acc = T(0);
      for (int64_t q = run[size_t(j)]; q < run[size_t(j + 1)]; ++q) {
        const int64_t p = reverse ? run[size_t(j)] + run[size_t(j + 1)] - 1 - q : q;
        const int64_t e = pos[size_t(p)];
        acc = ss::add_term(acc, d.w.empty() ? T(1) : d.w[size_t(e)], d.g[size_t((e / c.corners) * c.C + ch)]);
      }
      out[size_t(j * c.C + ch)] = acc;
    }
  return out;
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

// The parity above is not vacuous: the same runs summed backwards differ from the twin somewhere.
TEST(PointScatterSorted, AnotherOrderChangesTheBits) {
  const Case c{500, 13, 3, 1, true};
  const Data<float> d = make<float>(c, 11);
  const std::vector<float> ref = twin(d, c), rev = replay(d, c, /*reverse=*/true);
  EXPECT_NE(0, std::memcmp(rev.data(), ref.data(), ref.size() * sizeof(float)));
}
