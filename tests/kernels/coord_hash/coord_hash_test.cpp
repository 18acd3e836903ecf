// SPDX-License-Identifier: Apache-2.0
// Coordinate hash table (CPU twin): packing round trip at the range limits, millions of random keys including
// negative and extreme coordinates inserted and found with no loss, duplicates merged in first-occurrence order,
// absent keys not found, empty input and a single point, clear errors.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "kernels/coord_hash/coord_hash.h"

using namespace leseg::kernels;

namespace {
struct Table {
  std::vector<uint64_t> keys;
  std::vector<int32_t> vals;
  std::vector<int64_t> region;
  coord::TableView view;
  Table(const std::vector<int32_t>& coords, int64_t B) {
    std::vector<int64_t> counts(static_cast<size_t>(B));
    coord_hash_batch_counts_cpu(coords.data(), int64_t(coords.size() / 4), B, counts.data());
    region.resize(static_cast<size_t>(2 * B));
    const int64_t cap = coord_hash_layout(counts.data(), B, region.data());
    for (int64_t b = 0; b < B; ++b) {
      EXPECT_GE(region[2 * b + 1], 2 * counts[b]);  // load factor <= 0.5
      EXPECT_EQ(region[2 * b + 1] & (region[2 * b + 1] - 1), 0);  // power of two
    }
    keys.resize(static_cast<size_t>(cap));
    vals.resize(static_cast<size_t>(cap));
    view = coord::TableView{keys.data(), vals.data(), region.data(), B, cap};
  }
};
}  // namespace

TEST(CoordHash, PackRoundTripAtLimits) {
  const int32_t vals[] = {coord::kCoordMin, coord::kCoordMin + 1, -1, 0, 1, coord::kCoordMax - 1, coord::kCoordMax};
  for (int32_t x : vals)
    for (int32_t y : vals)
      for (int32_t z : vals) {
        const uint64_t k = coord::pack_xyz(x, y, z);
        EXPECT_NE(k, coord::kEmptyKey);
        EXPECT_EQ(k >> 63, 0u);
        int32_t a, b, c;
        coord::unpack_xyz(k, a, b, c);
        ASSERT_EQ(a, x);
        ASSERT_EQ(b, y);
        ASSERT_EQ(c, z);
      }
  EXPECT_FALSE(coord::coord_in_range(coord::kCoordMax + 1));
  EXPECT_FALSE(coord::coord_in_range(coord::kCoordMin - 1));
}

TEST(CoordHash, MillionsOfKeysNoLossDuplicatesMerged) {
  const int64_t n = 2'000'000, B = 4;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int32_t> u(coord::kCoordMin, coord::kCoordMax);
  std::vector<int32_t> coords(static_cast<size_t>(4 * n));
  for (int64_t i = 0; i < n; ++i) {
    int32_t* c = &coords[size_t(4 * i)];
    const uint64_t r = rng();
    if (i > 0 && r % 3 == 0) {  // a duplicate of an earlier row
      const int64_t j = int64_t(rng() % uint64_t(i));
      for (int d = 0; d < 4; ++d) c[d] = coords[size_t(4 * j + d)];
      continue;
    }
    c[0] = int32_t(rng() % B);
    for (int d = 1; d < 4; ++d) {
      const uint64_t pick = rng() % 16;
      c[d] = pick == 0 ? coord::kCoordMin : pick == 1 ? coord::kCoordMax : pick < 6 ? int32_t(rng() % 64) - 32 : u(rng);
    }
  }
  Table t(coords, B);
  std::vector<int32_t> index(static_cast<size_t>(n)), unique_rows(static_cast<size_t>(n));
  const int64_t m = coord_hash_insert_cpu(t.view, coords.data(), n, index.data(), unique_rows.data());
  // reference: first-occurrence ids from a serial std::unordered_map keyed by (batch, packed xyz)
  std::vector<std::unordered_map<uint64_t, int32_t>> ref(B);
  int32_t next = 0;
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* c = &coords[size_t(4 * i)];
    auto [it, fresh] = ref[size_t(c[0])].emplace(coord::pack_xyz(c[1], c[2], c[3]), next);
    if (fresh) ++next;
    mismatches += index[size_t(i)] != it->second;
  }
  EXPECT_EQ(mismatches, 0);
  ASSERT_EQ(m, next);
  EXPECT_LT(m, n);  // duplicates were merged
  for (int64_t u2 = 0; u2 < m; ++u2) ASSERT_EQ(index[size_t(unique_rows[size_t(u2)])], u2);
  // every key is found again, with its id
  std::vector<int32_t> found(static_cast<size_t>(n));
  coord_hash_find_cpu(t.view, coords.data(), n, found.data());
  EXPECT_EQ(found, index);
  // absent keys: shift z by one and keep those not in the set; other batches and out-of-range are absent too
  std::vector<int32_t> probe;
  std::vector<int32_t> expect;
  for (int64_t i = 0; i < 200000; ++i) {
    const int32_t* c = &coords[size_t(4 * i)];
    const int32_t z = c[3] == coord::kCoordMax ? c[3] - 1 : c[3] + 1;
    auto it = ref[size_t(c[0])].find(coord::pack_xyz(c[1], c[2], z));
    probe.insert(probe.end(), {c[0], c[1], c[2], z});
    expect.push_back(it == ref[size_t(c[0])].end() ? -1 : it->second);
  }
  probe.insert(probe.end(), {int32_t(B), 0, 0, 0, -1, 0, 0, 0, 0, coord::kCoordMax + 1, 0, 0});
  expect.insert(expect.end(), {-1, -1, -1});
  std::vector<int32_t> got(expect.size());
  coord_hash_find_cpu(t.view, probe.data(), int64_t(expect.size()), got.data());
  EXPECT_EQ(got, expect);
}

TEST(CoordHash, EmptyAndSinglePoint) {
  std::vector<int32_t> none;
  Table t0(none, 2);
  EXPECT_EQ(t0.view.capacity, 0);
  EXPECT_EQ(coord_hash_insert_cpu(t0.view, nullptr, 0, nullptr, nullptr), 0);
  int32_t out = 7;
  const int32_t q[4] = {0, 1, 2, 3};
  coord_hash_find_cpu(t0.view, q, 1, &out);
  EXPECT_EQ(out, -1);

  std::vector<int32_t> one = {1, coord::kCoordMin, coord::kCoordMax, -7};
  Table t1(one, 2);
  int32_t idx = -5, rows = -5;
  EXPECT_EQ(coord_hash_insert_cpu(t1.view, one.data(), 1, &idx, &rows), 1);
  EXPECT_EQ(idx, 0);
  EXPECT_EQ(rows, 0);
  coord_hash_find_cpu(t1.view, one.data(), 1, &out);
  EXPECT_EQ(out, 0);
  const int32_t other_batch[4] = {0, coord::kCoordMin, coord::kCoordMax, -7};
  coord_hash_find_cpu(t1.view, other_batch, 1, &out);
  EXPECT_EQ(out, -1);
}

TEST(CoordHash, ClearErrors) {
  std::vector<int32_t> bad = {0, 0, 0, 0, 0, 3, coord::kCoordMax + 1, 0};
  std::vector<int32_t> ok_rows = {0, 0, 0, 0, 0, 3, 0, 0};
  Table t(ok_rows, 1);
  std::vector<int32_t> idx(2), rows(2);
  try {
    coord_hash_insert_cpu(t.view, bad.data(), 2, idx.data(), rows.data());
    ADD_FAILURE() << "out-of-range coordinate accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("1048576"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
  std::vector<int32_t> bad_batch = {2, 0, 0, 0};
  std::vector<int64_t> counts(1);
  EXPECT_THROW(coord_hash_batch_counts_cpu(bad_batch.data(), 1, 1, counts.data()), std::invalid_argument);
  // a table sized for one row cannot take three distinct ones: "full" is an error, not a silent loss
  std::vector<int32_t> three = {0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0};
  std::vector<int32_t> one_row = {0, 1, 0, 0};
  Table small(one_row, 1);
  std::vector<int32_t> i3(3), r3(3);
  EXPECT_THROW(coord_hash_insert_cpu(small.view, three.data(), 3, i3.data(), r3.data()), std::invalid_argument);
}
