// SPDX-License-Identifier: Apache-2.0
// Segment reductions and voting (CPU twins) against serial references: integer / dyadic inputs (exact),
// empty groups, elements in no group (id -1), ties (max → first row, vote → smallest class), weighted votes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "kernels/segment/segment.h"
#include "kernels/index/index.h"
#include "kernels/segment/segment_sorted_math.h"

using namespace leseg::kernels;

namespace {
struct Data {
  int64_t N, C, G;
  std::vector<int64_t> group;
  std::vector<double> x;
};
Data make(int64_t N, int64_t C, int64_t G, unsigned seed) {
  std::mt19937 g(seed);
  Data d{N, C, G, std::vector<int64_t>(static_cast<size_t>(N)), std::vector<double>(size_t(N * C))};
  for (auto& v : d.group) v = int64_t(g() % uint32_t(G + 1)) - 1;  // -1 = in no group
  for (auto& v : d.x) v = double(int(g() % 17) - 8) * 0.25;          // dyadic, many ties
  return d;
}
}  // namespace

TEST(SegmentKernel, SumMeanMaxMatchSerialReference) {
  Data d = make(97, 3, 11, 1);
  std::vector<double> ws(static_cast<size_t>(d.G * d.C)), sum(static_cast<size_t>(d.G * d.C)), mean(static_cast<size_t>(d.G * d.C)), mx(static_cast<size_t>(d.G * d.C));
  std::vector<int64_t> count(static_cast<size_t>(d.G)), arg(static_cast<size_t>(d.G * d.C));
  segment_sum_cpu<double>(d.x.data(), d.group.data(), d.N, d.C, d.G, ws.data(), sum.data());
  segment_mean_cpu<double>(d.x.data(), d.group.data(), d.N, d.C, d.G, ws.data(), mean.data(), count.data());
  segment_max_cpu<double>(d.x.data(), d.group.data(), d.N, d.C, d.G, mx.data(), arg.data());
  bool nontrivial = false;
  for (int64_t g = 0; g < d.G; ++g)
    for (int64_t c = 0; c < d.C; ++c) {
      double s = 0, m = 0;
      int64_t n = 0, a = -1;
      for (int64_t i = 0; i < d.N; ++i)
        if (d.group[size_t(i)] == g) {
          const double v = d.x[size_t(i * d.C + c)];
          s += v;
          ++n;
          if (a < 0 || v > m) m = v, a = i;
        }
      const size_t j = size_t(g * d.C + c);
      EXPECT_EQ(sum[j], s) << g << "," << c;
      EXPECT_EQ(count[size_t(g)], n);
      EXPECT_DOUBLE_EQ(mean[j], n ? s / double(n) : 0.0);
      EXPECT_EQ(mx[j], a < 0 ? 0.0 : m);
      EXPECT_EQ(arg[j], a);
      nontrivial |= s != 0;
    }
  EXPECT_TRUE(nontrivial);
}

TEST(SegmentKernel, EmptyGroupsAndBackward) {
  // groups 1 and 3 empty; element 4 in no group; ties in column 0 of group 0 (rows 0 and 2).
  std::vector<int64_t> group = {0, 2, 0, 2, -1};
  std::vector<double> x = {1, 5, 3, 2, 1, 7, 3, 9, 100, 100};
  const int64_t N = 5, C = 2, G = 4;
  std::vector<double> mx(static_cast<size_t>(G * C)), dx(static_cast<size_t>(N * C)), ws(static_cast<size_t>(G * C)), mean(static_cast<size_t>(G * C));
  std::vector<int64_t> arg(static_cast<size_t>(G * C)), count(static_cast<size_t>(G));
  segment_max_cpu<double>(x.data(), group.data(), N, C, G, mx.data(), arg.data());
  EXPECT_EQ(mx, (std::vector<double>{1, 7, 0, 0, 3, 9, 0, 0}));
  EXPECT_EQ(arg, (std::vector<int64_t>{0, 2, -1, -1, 1, 3, -1, -1}));
  std::vector<double> dout = {1, 2, 3, 4, 5, 6, 7, 8};
  segment_max_backward_cpu<double>(dout.data(), arg.data(), N, C, G, dx.data());
  EXPECT_EQ(dx, (std::vector<double>{1, 0, 5, 0, 0, 2, 0, 6, 0, 0}));
  segment_mean_cpu<double>(x.data(), group.data(), N, C, G, ws.data(), mean.data(), count.data());
  EXPECT_EQ(count, (std::vector<int64_t>{2, 0, 2, 0}));
  segment_mean_backward_cpu<double>(dout.data(), group.data(), count.data(), N, C, G, dx.data());
  EXPECT_EQ(dx, (std::vector<double>{0.5, 1, 2.5, 3, 0.5, 1, 2.5, 3, 0, 0}));
  std::vector<double> gat(static_cast<size_t>(N * C));
  segment_gather_cpu<double>(dout.data(), group.data(), N, C, G, gat.data());
  EXPECT_EQ(gat, (std::vector<double>{1, 2, 5, 6, 1, 2, 5, 6, 0, 0}));
  std::vector<int64_t> bad = {0, 4, 0, 0, 0};
  EXPECT_THROW(segment_max_cpu<double>(x.data(), bad.data(), N, C, G, mx.data(), arg.data()), std::invalid_argument);
}

TEST(VoteKernel, ModeTiesIgnoredAndWeights) {
  // group 0: labels 2,1,1,2 → tie 2:2 → smallest class 1; group 1: all ignored → ignore;
  // group 2: empty; group 3: 0,3,3 → 3; element 9 in no group.
  std::vector<int64_t> group = {0, 0, 0, 0, 1, 1, 3, 3, 3, -1};
  std::vector<int64_t> label = {2, 1, 1, 2, -1, -1, 0, 3, 3, 1};
  const int64_t N = 10, G = 4, C = 4;
  std::vector<double> ws(static_cast<size_t>(G * C));
  std::vector<int64_t> mode(static_cast<size_t>(G)), pm(static_cast<size_t>(N));
  vote_mode_cpu(group.data(), label.data(), nullptr, N, G, C, -1, ws.data(), mode.data(), pm.data());
  EXPECT_EQ(mode, (std::vector<int64_t>{1, -1, -1, 3}));
  EXPECT_EQ(pm, (std::vector<int64_t>{1, 1, 1, 1, -1, -1, 3, 3, 3, -1}));
  // weights: group 0 class 2 now outweighs class 1; group 3: class 0 weight 2.5 > 2 × 1
  std::vector<float> w = {1.0f, 0.5f, 0.5f, 0.25f, 1, 1, 2.5f, 1, 1, 1};
  vote_mode_cpu(group.data(), label.data(), w.data(), N, G, C, -1, ws.data(), mode.data(), nullptr);
  EXPECT_EQ(mode, (std::vector<int64_t>{2, -1, -1, 0}));
  std::vector<float> neg(w);
  neg[0] = -1.f;
  EXPECT_THROW(vote_mode_cpu(group.data(), label.data(), neg.data(), N, G, C, -1, ws.data(), mode.data(), nullptr),
               std::invalid_argument);
}

TEST(VoteKernel, RandomAgainstCountingReference) {
  std::mt19937 r(5);
  const int64_t N = 1013, G = 37, C = 7;
  std::vector<int64_t> group(N), label(N);
  for (int64_t i = 0; i < N; ++i) group[size_t(i)] = int64_t(r() % G), label[size_t(i)] = int64_t(r() % (C + 1)) - 1;
  std::vector<double> ws(static_cast<size_t>(G * C));
  std::vector<int64_t> mode(static_cast<size_t>(G));
  vote_mode_cpu(group.data(), label.data(), nullptr, N, G, C, -1, ws.data(), mode.data(), nullptr);
  for (int64_t g = 0; g < G; ++g) {
    std::map<int64_t, int> cnt;
    for (int64_t i = 0; i < N; ++i)
      if (group[size_t(i)] == g && label[size_t(i)] >= 0) cnt[label[size_t(i)]]++;
    int64_t best = -1;
    int bc = 0;
    for (auto [c, n] : cnt)  // ascending class: strict > keeps the smallest on ties
      if (n > bc) bc = n, best = c;
    EXPECT_EQ(mode[size_t(g)], best) << "group " << g;
  }
}

TEST(CompactKernel, ArbitraryIdsToDenseAndBack) {
  std::vector<int64_t> ids = {900000000000LL, -5, 7, 7, -5, 42, 900000000000LL};
  const int64_t N = int64_t(ids.size());
  std::vector<int64_t> ws(N), comp(N), uniq(N);
  int64_t G = -1;
  segment_compact_cpu(ids.data(), N, ws.data(), comp.data(), uniq.data(), &G);
  ASSERT_EQ(G, 4);
  EXPECT_EQ(std::vector<int64_t>(uniq.begin(), uniq.begin() + G), (std::vector<int64_t>{-5, 7, 42, 900000000000LL}));
  EXPECT_EQ(comp, (std::vector<int64_t>{3, 0, 1, 1, 0, 2, 3}));
  for (int64_t i = 0; i < N; ++i) EXPECT_EQ(uniq[size_t(comp[size_t(i)])], ids[size_t(i)]);
  segment_compact_cpu(nullptr, 0, nullptr, nullptr, nullptr, &G);
  EXPECT_EQ(G, 0);
}

// The deterministic CUDA schedule (segment_sorted.h), replayed on the host with its index math: a stable sort of
// (segment_sort_key, position), run starts by sorted_lower_bound, each run summed in double in order. It gives the
// CPU twin's bits on non-dyadic data (the argument the CUDA kernel relies on), and keys beyond G sort last.
TEST(SegmentSorted, ScheduleReproducesTheCpuTwinBitForBit) {
  std::mt19937 r(12);
  for (int64_t G : {1, 5, 300}) {
    const int64_t N = 4000, C = 3;
    std::vector<int64_t> group(N);
    for (auto& g : group) g = int64_t(r() % uint32_t(G + 1)) - 1;  // -1: no group
    std::vector<float> x(size_t(N * C));
    std::normal_distribution<float> nd;
    for (auto& v : x) v = nd(r);
    std::vector<double> ws(size_t(G * C));
    std::vector<float> want(size_t(G * C));
    segment_sum_cpu(x.data(), group.data(), N, C, G, ws.data(), want.data());
    std::vector<std::pair<uint64_t, int64_t>> kp(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) kp[size_t(i)] = {segment_sort_key(group[size_t(i)], G), i};
    std::stable_sort(kp.begin(), kp.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::vector<uint64_t> keys(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) keys[size_t(i)] = kp[size_t(i)].first;
    ASSERT_LT(uint64_t(G), uint64_t(1) << segment_sort_bits(G));
    for (int64_t g = 0; g < G; ++g) {
      const int64_t b = sorted_lower_bound(keys.data(), N, uint64_t(g)), e = sorted_lower_bound(keys.data(), N, uint64_t(g + 1));
      for (int64_t c = 0; c < C; ++c) {
        double acc = 0.0;
        for (int64_t p = b; p < e; ++p) acc += double(x[size_t(kp[size_t(p)].second * C + c)]);
        ASSERT_EQ(float(acc), want[size_t(g * C + c)]) << "G " << G << " group " << g;
      }
    }
    EXPECT_EQ(sorted_lower_bound(keys.data(), N, uint64_t(G)),
              N - std::count(group.begin(), group.end(), int64_t(-1)));  // no-group ids form the tail
  }
}

namespace leseg::kernels {
namespace {

// index_add's deterministic CUDA path takes its CSR from segment_csr_cuda (segment_sorted.h) instead of a stable
// counting sort on the host (one read of the indices per call, the path it replaces). Replayed on the host with the
// kernels' index math (segment_sort_key, a stable sort, sorted_lower_bound), the CSR is the counting sort's arrays
// exactly, out-of-range indices left out; summing each row's sources in that order onto the row (the CSR kernel's
// acc = out[r]; acc += src) gives index_add_rows_cpu's bits.
TEST(SegmentSorted, CsrIsTheCountingSortAndItsSumIsIndexAddsBits) {
  std::mt19937 r(41);
  for (int64_t R : {1, 7, 250}) {
    const int64_t n = 3000, D = 2;
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (auto& v : idx) v = int64_t(r() % uint32_t(R + 4)) - 2;  // some below 0 and some >= R
    // the spec: the host counting sort over the valid indices
    std::vector<int64_t> rp(static_cast<size_t>(R + 1), 0), ord;
    for (int64_t v : idx)
      if (v >= 0 && v < R) ++rp[size_t(v + 1)];
    for (int64_t k = 0; k < R; ++k) rp[size_t(k + 1)] += rp[size_t(k)];
    ord.resize(size_t(rp[size_t(R)]));
    std::vector<int64_t> fill(rp.begin(), rp.end() - 1);
    for (int64_t i = 0; i < n; ++i)
      if (idx[size_t(i)] >= 0 && idx[size_t(i)] < R) ord[size_t(fill[size_t(idx[size_t(i)])]++)] = i;
    // the device schedule
    std::vector<std::pair<uint64_t, int64_t>> kp(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) kp[size_t(i)] = {segment_sort_key(idx[size_t(i)], R), i};
    std::stable_sort(kp.begin(), kp.end(), [](auto& a, auto& b) { return a.first < b.first; });
    std::vector<uint64_t> keys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) keys[size_t(i)] = kp[size_t(i)].first;
    std::vector<int64_t> drp(static_cast<size_t>(R + 1));
    for (int64_t k = 0; k <= R; ++k) drp[size_t(k)] = sorted_lower_bound(keys.data(), n, uint64_t(k));
    ASSERT_EQ(drp, rp) << "R " << R;
    for (size_t p = 0; p < ord.size(); ++p) ASSERT_EQ(kp[p].second, ord[p]) << "R " << R << " position " << p;
    // the CSR sum onto the rows equals the CPU twin's (valid indices only: the twin is called on those)
    std::vector<float> src(size_t(n * D)), out0(size_t(R * D));
    std::normal_distribution<float> nd;
    for (auto& v : src) v = nd(r);
    for (auto& v : out0) v = nd(r);
    std::vector<float> csr = out0;
    for (int64_t row = 0; row < R; ++row)
      for (int64_t d = 0; d < D; ++d) {
        float acc = csr[size_t(row * D + d)];
        for (int64_t p = drp[size_t(row)]; p < drp[size_t(row + 1)]; ++p) acc += src[size_t(kp[size_t(p)].second * D + d)];
        csr[size_t(row * D + d)] = acc;
      }
    std::vector<int64_t> vidx;
    std::vector<float> vsrc;
    for (int64_t i = 0; i < n; ++i)
      if (idx[size_t(i)] >= 0 && idx[size_t(i)] < R) {
        vidx.push_back(idx[size_t(i)]);
        vsrc.insert(vsrc.end(), src.begin() + i * D, src.begin() + (i + 1) * D);
      }
    std::vector<float> twin = out0;
    index_add_rows_cpu<float, int64_t>(twin.data(), R, D, vidx.data(), int64_t(vidx.size()), vsrc.data());
    EXPECT_EQ(csr, twin) << "R " << R;
  }
}

}  // namespace
}  // namespace leseg::kernels
