// SPDX-License-Identifier: Apache-2.0
// Kernel maps (CPU twin): documented offset order and anchors, and the pair lists equal a brute-force search
// over all (output, offset) pairs, for submanifold and strided maps, kernel sizes 1..5, dilation 1..3.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "kernels/coord_hash/coord_hash.h"
#include "kernels/kernel_map/kernel_map.h"

using namespace leseg::kernels;

TEST(KernelMap, OffsetOrderAndAnchors) {
  int32_t d[3];
  kmap::kernel_offset(0, 3, 1, 1, d[0], d[1], d[2]);
  EXPECT_EQ((std::vector<int32_t>{d[0], d[1], d[2]}), (std::vector<int32_t>{-1, -1, -1}));
  kmap::kernel_offset(1, 3, 1, 1, d[0], d[1], d[2]);  // x fastest
  EXPECT_EQ((std::vector<int32_t>{d[0], d[1], d[2]}), (std::vector<int32_t>{0, -1, -1}));
  kmap::kernel_offset(13, 3, 2, 4, d[0], d[1], d[2]);  // centre
  EXPECT_EQ((std::vector<int32_t>{d[0], d[1], d[2]}), (std::vector<int32_t>{0, 0, 0}));
  kmap::kernel_offset(26, 3, 2, 4, d[0], d[1], d[2]);  // (+1,+1,+1) * dilation * stride
  EXPECT_EQ((std::vector<int32_t>{d[0], d[1], d[2]}), (std::vector<int32_t>{8, 8, 8}));
  kmap::kernel_offset(0, 2, 1, 2, d[0], d[1], d[2]);  // even: anchored at 0
  EXPECT_EQ((std::vector<int32_t>{d[0], d[1], d[2]}), (std::vector<int32_t>{0, 0, 0}));
  kmap::kernel_offset(7, 2, 1, 2, d[0], d[1], d[2]);
  EXPECT_EQ((std::vector<int32_t>{d[0], d[1], d[2]}), (std::vector<int32_t>{2, 2, 2}));
  kmap::kernel_offset(2, 4, 1, 1, d[0], d[1], d[2]);
  EXPECT_EQ(d[0], 2);
  EXPECT_EQ(kmap::downsample(-1, 2), -2);
  EXPECT_EQ(kmap::downsample(-4, 4), -4);
  EXPECT_EQ(kmap::downsample(5, 4), 4);
}

namespace {
using C4 = std::tuple<int32_t, int32_t, int32_t, int32_t>;

void check_map(int K, int dil, int32_t ts, bool strided, uint64_t seed) {
  SCOPED_TRACE("K" + std::to_string(K) + " d" + std::to_string(dil) + " s" + std::to_string(ts) +
               (strided ? " strided" : ""));
  std::mt19937_64 rng(seed);
  std::set<C4> seen;
  std::vector<int32_t> in;
  for (int i = 0; i < 400; ++i) {
    C4 c{int32_t(rng() % 2), (int32_t(rng() % 13) - 6) * ts, (int32_t(rng() % 13) - 6) * ts, (int32_t(rng() % 13) - 6) * ts};
    if (seen.insert(c).second) in.insert(in.end(), {std::get<0>(c), std::get<1>(c), std::get<2>(c), std::get<3>(c)});
  }
  const int64_t n_in = int64_t(in.size() / 4);
  std::vector<int32_t> out = in;
  if (strided) {  // unique(floor(c / 2s) * 2s)
    std::vector<int32_t> ds(in.size());
    downsample_coords_cpu(in.data(), n_in, 2 * ts, ds.data());
    std::set<C4> s2;
    out.clear();
    for (size_t i = 0; i < ds.size(); i += 4)
      if (s2.insert(C4{ds[i], ds[i + 1], ds[i + 2], ds[i + 3]}).second) out.insert(out.end(), &ds[i], &ds[i] + 4);
  }
  const int64_t n_out = int64_t(out.size() / 4);
  std::vector<int64_t> counts(2), region(4);
  coord_hash_batch_counts_cpu(in.data(), n_in, 2, counts.data());
  const int64_t cap = coord_hash_layout(counts.data(), 2, region.data());
  std::vector<uint64_t> keys(static_cast<size_t>(cap));
  std::vector<int32_t> vals(static_cast<size_t>(cap)), idx(static_cast<size_t>(n_in)), rows(static_cast<size_t>(n_in));
  coord::TableView t{keys.data(), vals.data(), region.data(), 2, cap};
  ASSERT_EQ(coord_hash_insert_cpu(t, in.data(), n_in, idx.data(), rows.data()), n_in);
  KernelGeometry g{K, dil, ts};
  const int64_t V = g.volume();
  std::vector<int32_t> nbr(static_cast<size_t>(V * n_out));
  kernel_map_neighbors_cpu(t, out.data(), n_out, g, nbr.data());
  if (!strided) {  // the same set: the mirrored build (half the probes for odd K) gives the same matrix
    std::vector<int32_t> mirrored(nbr.size(), 12345);
    kernel_map_neighbors_cpu(t, out.data(), n_out, g, mirrored.data(), /*same_set=*/true);
    ASSERT_EQ(mirrored, nbr) << "same_set build differs from the full search";
  }
  std::vector<int64_t> offsets(static_cast<size_t>(V + 1));
  kernel_map_count_cpu(nbr.data(), n_out, V, offsets.data());
  std::vector<int32_t> in_idx(static_cast<size_t>(offsets[V])), out_idx(static_cast<size_t>(offsets[V]));
  kernel_map_fill_cpu(nbr.data(), n_out, V, offsets.data(), in_idx.data(), out_idx.data());
  // brute force: all (in, out) pairs with in = out + offset(k)
  std::map<C4, int32_t> in_id;
  for (int64_t i = 0; i < n_in; ++i) in_id[C4{in[4 * i], in[4 * i + 1], in[4 * i + 2], in[4 * i + 3]}] = int32_t(i);
  int64_t total = 0;
  for (int64_t k = 0; k < V; ++k) {
    std::vector<std::pair<int32_t, int32_t>> want;
    const int ix = int(k % K), iy = int((k / K) % K), iz = int(k / (K * K));
    auto off = [&](int i) { return ((K % 2) ? i - (K - 1) / 2 : i) * dil * ts; };
    for (int64_t j = 0; j < n_out; ++j) {
      auto it = in_id.find(C4{out[4 * j], out[4 * j + 1] + off(ix), out[4 * j + 2] + off(iy), out[4 * j + 3] + off(iz)});
      if (it != in_id.end()) want.emplace_back(it->second, int32_t(j));
    }
    std::vector<std::pair<int32_t, int32_t>> got;
    for (int64_t p = offsets[k]; p < offsets[k + 1]; ++p) got.emplace_back(in_idx[p], out_idx[p]);
    ASSERT_EQ(got, want) << "offset " << k;
    total += int64_t(want.size());
  }
  EXPECT_GT(total, n_out / 2);  // non-trivial
  // the inverted (input-stationary) matrix lists the same pairs
  std::vector<int32_t> nbr_t(static_cast<size_t>(V * n_in));
  kernel_map_invert_cpu(in_idx.data(), out_idx.data(), offsets.data(), V, n_in, nbr_t.data());
  for (int64_t k = 0; k < V; ++k)
    for (int64_t p = offsets[k]; p < offsets[k + 1]; ++p) ASSERT_EQ(nbr_t[k * n_in + in_idx[p]], out_idx[p]);
}
}  // namespace

TEST(KernelMap, MatchesBruteForce) {
  uint64_t seed = 1;
  for (int K = 1; K <= 5; ++K)
    for (int dil = 1; dil <= 3; ++dil) check_map(K, dil, 1, false, seed++);
  for (int K : {2, 3})
    for (int dil : {1, 2}) {
      check_map(K, dil, 1, true, seed++);
      check_map(K, dil, 2, true, seed++);
    }
  check_map(3, 1, 4, false, seed++);
}

TEST(KernelMap, RejectsBadGeometry) {
  std::vector<int64_t> region = {0, 0};
  coord::TableView t{nullptr, nullptr, region.data(), 1, 0};
  const int32_t oc[4] = {0, 0, 0, 0};
  int32_t nbr[1000];
  EXPECT_THROW(kernel_map_neighbors_cpu(t, oc, 1, KernelGeometry{6, 1, 1}, nbr), std::invalid_argument);
  EXPECT_THROW(kernel_map_neighbors_cpu(t, oc, 1, KernelGeometry{3, 4, 1}, nbr), std::invalid_argument);
  EXPECT_THROW(kernel_map_neighbors_cpu(t, oc, 1, KernelGeometry{3, 1, 0}, nbr), std::invalid_argument);
}

// same_set promises that output row j is table id j; coordinates in another order break the mirror, and the build
// says so instead of returning a wrong map.
TEST(KernelMap, SameSetChecksItsPrecondition) {
  std::vector<int32_t> in = {0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0};
  std::vector<int64_t> counts(1), region(2);
  coord_hash_batch_counts_cpu(in.data(), 3, 1, counts.data());
  const int64_t cap = coord_hash_layout(counts.data(), 1, region.data());
  std::vector<uint64_t> keys(static_cast<size_t>(cap));
  std::vector<int32_t> vals(static_cast<size_t>(cap)), idx(3), rows(3);
  coord::TableView t{keys.data(), vals.data(), region.data(), 1, cap};
  ASSERT_EQ(coord_hash_insert_cpu(t, in.data(), 3, idx.data(), rows.data()), 3);
  std::vector<int32_t> swapped = {0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0};  // rows 0 and 1 exchanged
  std::vector<int32_t> nbr(27 * 3);
  try {
    kernel_map_neighbors_cpu(t, swapped.data(), 3, KernelGeometry{3, 1, 1}, nbr.data(), /*same_set=*/true);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("same_set"), std::string::npos) << e.what();
  }
  kernel_map_neighbors_cpu(t, in.data(), 3, KernelGeometry{3, 1, 1}, nbr.data(), /*same_set=*/true);
  EXPECT_EQ(nbr[13 * 3 + 2], 2);  // centre
  EXPECT_EQ(nbr[12 * 3 + 1], 0);  // offset (-1, 0, 0) of row 1 is row 0
  EXPECT_EQ(nbr[14 * 3 + 0], 1);  // its mirror
}
