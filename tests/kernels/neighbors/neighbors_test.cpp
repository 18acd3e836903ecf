// SPDX-License-Identifier: Apache-2.0
// Voxel-hash-grid kNN / radius search vs brute force: exact indices and distances, ties (lattice
// points), empty cells (clustered clouds), k > N, far queries, cell sizes from tiny to huge.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/neighbors/neighbors.h"
#include "kernels/neighbors/neighbors_math.h"

namespace lk = leseg::kernels;

namespace {
struct Grid {
  std::vector<uint64_t> keys;
  std::vector<int64_t> start;
  std::vector<int32_t> count, sorted;
  lk::GridView view;
  Grid(const std::vector<float>& ref, float cell) {
    const int64_t n = int64_t(ref.size() / 3);
    const uint64_t cap = lk::neighbors_grid_capacity(n);
    keys.resize(cap);
    start.resize(cap);
    count.resize(cap);
    sorted.resize(size_t(n));
    lk::GridParams p;
    lk::neighbors_grid_build_cpu(ref.data(), n, cell, cap, keys.data(), start.data(), count.data(), sorted.data(), &p);
    view = {keys.data(), start.data(), count.data(), sorted.data(), cap, p};
  }
};

// Lattice coordinates (multiples of 1/4) make many exactly equal distances.
std::vector<float> lattice_cloud(int n, uint64_t seed, bool clustered) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int> d(0, 24);
  std::vector<float> p(static_cast<size_t>(3 * n));
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) {
      int v = d(g);
      if (clustered && i % 2) v += 80;  // two clusters with empty cells between
      p[size_t(3 * i + a)] = float(v) * 0.25f - 2.f;
    }
  return p;
}

struct Brute {
  std::vector<int32_t> idx;
  std::vector<float> d2;
};
Brute brute_sorted(const std::vector<float>& ref, const float* q, float r2_limit) {
  std::vector<std::pair<float, int32_t>> all;
  for (size_t i = 0; i < ref.size() / 3; ++i) {
    float d = lk::nbr::dist2(&ref[3 * i], q);
    if (d <= r2_limit) all.push_back({d, int32_t(i)});
  }
  std::sort(all.begin(), all.end());
  Brute b;
  for (auto& [d, i] : all) {
    b.idx.push_back(i);
    b.d2.push_back(d);
  }
  return b;
}

void check_knn(const std::vector<float>& ref, const std::vector<float>& query, float cell, int k) {
  Grid g(ref, cell);
  const int64_t nq = int64_t(query.size() / 3);
  std::vector<int32_t> idx(static_cast<size_t>(nq * k), 7);
  std::vector<float> d2(static_cast<size_t>(nq * k), 7.f);
  lk::knn_query_cpu(ref.data(), g.view, query.data(), nq, k, idx.data(), d2.data());
  int64_t nonneg = 0, mism = 0;
  for (int64_t q = 0; q < nq; ++q) {
    Brute b = brute_sorted(ref, &query[size_t(3 * q)], INFINITY);
    for (int j = 0; j < k; ++j) {
      const int32_t ei = j < int(b.idx.size()) ? b.idx[size_t(j)] : -1;
      const float ed = j < int(b.idx.size()) ? b.d2[size_t(j)] : INFINITY;
      const int32_t gi = idx[size_t(q * k + j)];
      const float gd = d2[size_t(q * k + j)];
      nonneg += gi >= 0;
      if (gi != ei || !(gd == ed || (std::isinf(gd) && std::isinf(ed)))) {
        if (mism++ < 5)
          std::printf("query %lld slot %d: got (%d, %g) want (%d, %g)\n", (long long)q, j, gi, gd, ei, ed);
      }
    }
  }
  EXPECT_EQ(mism, 0) << "cell " << cell << " k " << k;
  EXPECT_GT(nonneg, 0);
}
}  // namespace

TEST(Neighbors, KnnMatchesBruteForceWithTies) {
  std::vector<float> ref = lattice_cloud(400, 1, false);
  std::vector<float> query = lattice_cloud(60, 2, false);
  query.insert(query.end(), ref.begin(), ref.begin() + 30);  // queries equal to reference points
  for (float cell : {0.1f, 0.37f, 1.f, 50.f})
    for (int k : {1, 8, 33}) check_knn(ref, query, cell, k);
}

TEST(Neighbors, KnnCellSkipKeepsTiesOnCellFacesFarFromTheOrigin) {
  // The kNN loop skips cells whose box lies beyond the current k-th distance. Points and queries on a lattice of
  // half the cell size sit exactly on cell faces (many equal distances), and far from the origin p / cell rounds
  // in float: neither may make the skip drop a point that ties or wins.
  for (float offset : {0.f, 1000.25f, -30000.5f})
    for (float cell : {0.1f, 0.3f, 0.5f}) {
      std::vector<float> ref = lattice_cloud(500, 11, false), query = lattice_cloud(50, 12, false);
      for (auto* v : {&ref, &query})
        for (size_t i = 0; i < v->size(); ++i) (*v)[i] = (*v)[i] * 0.4f * cell + offset;  // steps of cell / 10
      query.insert(query.end(), ref.begin(), ref.begin() + 30);
      for (int k : {1, 6, 27}) check_knn(ref, query, cell, k);
    }
}

TEST(Neighbors, KnnCellSkipHandMadeTieAndFloatRoundedFace) {
  // 1) A tie across a face: q's own cell holds index 1 at distance 0.5; the next cell up holds index 0 at the same
  //    distance, its box exactly 0.5 away. Index 0 must win (ties go to the smaller index), so that cell must not
  //    be skipped although its box is no nearer than the current k-th distance.
  {
    std::vector<float> ref = {0.5f, 0.5f, 1.0f, 0.5f, 0.5f, 0.0f};
    Grid g(ref, 1.f);
    const float q[3] = {0.5f, 0.5f, 0.5f};
    int32_t idx = -7;
    float d2 = -7.f;
    lk::knn_query_cpu(ref.data(), g.view, q, 1, 1, &idx, &d2);
    EXPECT_EQ(idx, 0);
    EXPECT_EQ(d2, 0.25f);
  }
  // 2) A point that floorf(p / cell) puts in cell m although p lies just below m * cell exactly: it is nearer to a
  //    query below the face than that cell's exact box says. A decoy in the query's own cell sits between the two
  //    distances; skipping by the exact box would return the decoy.
  const float cell = 0.1f;
  int found = 0;
  for (int m = 1; m < 200000 && found < 3; ++m) {
    const float p = std::nextafter(float(double(m) * double(cell)), -INFINITY);
    if (lk::nbr::cell_of(p, cell) != m || !(double(p) < double(m) * double(cell))) continue;
    const double eps = double(m) * double(cell) - double(p);  // how far below the exact face
    const float qx = p - 1e-3f;
    const double delta = double(p) - double(qx);  // true distance to the point
    if (lk::nbr::cell_of(qx, cell) != m - 1 || !(delta > 0)) continue;
    // decoy at distance in (delta, delta + eps) along y, inside the query's cell
    const float qy = 0.5f * cell, dy = float(delta + 0.5 * eps);
    if (!(double(dy) > delta && double(dy) < delta + eps)) continue;
    std::vector<float> ref = {p, qy, 0.05f, qx, qy + dy, 0.05f};  // index 0: the point, index 1: the decoy
    if (lk::nbr::cell_of(qy + dy, cell) != lk::nbr::cell_of(qy, cell)) continue;
    Grid g(ref, cell);
    const float q[3] = {qx, qy, 0.05f};
    if (!(lk::nbr::dist2(&ref[0], q) < lk::nbr::dist2(&ref[3], q))) continue;  // the point really is nearest
    int32_t idx = -7;
    float d2 = -7.f;
    lk::knn_query_cpu(ref.data(), g.view, q, 1, 1, &idx, &d2);
    EXPECT_EQ(idx, 0) << "m " << m << " p " << p;
    ++found;
  }
  EXPECT_GT(found, 0) << "no float-rounded face found to test";
}

TEST(Neighbors, KnnEmptyCellsFarQueriesAndKGreaterThanN) {
  std::vector<float> ref = lattice_cloud(97, 3, true);
  std::vector<float> query = lattice_cloud(40, 4, true);
  query.insert(query.end(), {100.f, -50.f, 3.f, -7.f, 9.f, 40.f});
  check_knn(ref, query, 0.5f, 5);
  check_knn(ref, query, 0.5f, 97);
  check_knn(ref, query, 0.5f, 120);  // k > N: padded with -1 / inf
  std::vector<float> one = {0.5f, 0.5f, 0.5f};
  check_knn(one, query, 0.3f, 3);
}

TEST(Neighbors, RadiusMatchesBruteForceIncludingBoundary) {
  std::vector<float> ref = lattice_cloud(300, 5, true);
  std::vector<float> query = lattice_cloud(50, 6, true);
  for (float cell : {0.25f, 0.6f, 3.f})
    for (float r : {0.f, 0.5f, 1.f, 2.25f}) {  // lattice distances hit r exactly
      Grid g(ref, cell);
      const int64_t nq = int64_t(query.size() / 3);
      std::vector<int32_t> cnt(static_cast<size_t>(nq));
      lk::radius_count_cpu(ref.data(), g.view, query.data(), nq, r, cnt.data());
      std::vector<int64_t> off(static_cast<size_t>(nq) + 1, 0);
      for (int64_t q = 0; q < nq; ++q) off[size_t(q) + 1] = off[size_t(q)] + cnt[size_t(q)];
      std::vector<int32_t> idx(static_cast<size_t>(off.back()));
      std::vector<float> d2(static_cast<size_t>(off.back()));
      lk::radius_fill_cpu(ref.data(), g.view, query.data(), nq, r, off.data(), idx.data(), d2.data());
      int64_t mism = 0;
      for (int64_t q = 0; q < nq; ++q) {
        Brute b = brute_sorted(ref, &query[size_t(3 * q)], r * r);
        ASSERT_EQ(int64_t(b.idx.size()), off[size_t(q) + 1] - off[size_t(q)]) << "query " << q << " r " << r;
        for (size_t j = 0; j < b.idx.size(); ++j)
          if (idx[size_t(off[size_t(q)]) + j] != b.idx[j] || d2[size_t(off[size_t(q)]) + j] != b.d2[j]) ++mism;
      }
      EXPECT_EQ(mism, 0) << "cell " << cell << " r " << r;
      if (r >= 1.f) {
        EXPECT_GT(off.back(), nq);
      }
    }
}

TEST(Neighbors, RadiusFindsPointsAcrossAFloatRoundedReach) {
  // q + r rounds in float: a point that dist2 accepts (float(d^2) <= float(r^2)) can lie in the cell after
  // cell_of(q + r). Search for such (point, query, radius) triples on cell faces; the search must find some.
  int found = 0;
  for (float cell : {0.1f, 0.3f})
    for (int m = 1; m < 20000 && found < 6; ++m) {
      float p = float(double(m) * double(cell));  // first float of cell m
      while (lk::nbr::cell_of(p, cell) >= m) p = std::nextafter(p, -INFINITY);
      while (lk::nbr::cell_of(p, cell) < m) p = std::nextafter(p, INFINITY);
      for (float qx : {0.013f, -0.37f}) {
        float r = float(double(p) - double(qx));
        for (int t = 0; t < 8; ++t, r = std::nextafter(r, 0.f)) {
          const float P[3] = {p, 0.f, 0.f}, Q[3] = {qx, 0.f, 0.f};
          if (!(lk::nbr::dist2(P, Q) <= float(double(r) * double(r))) ||
              lk::nbr::cell_of(qx + r, cell) >= lk::nbr::cell_of(p, cell))
            continue;
          std::vector<float> ref = {qx, 0.f, 0.f, p, 0.f, 0.f};
          Grid g(ref, cell);
          int32_t cnt = -1;
          lk::radius_count_cpu(ref.data(), g.view, Q, 1, r, &cnt);
          EXPECT_EQ(cnt, 2) << "cell " << cell << " p " << p << " q " << qx << " r " << r;
          std::vector<int64_t> off = {0, cnt};
          std::vector<int32_t> idx(size_t(cnt > 0 ? cnt : 0));
          std::vector<float> d2(idx.size());
          lk::radius_fill_cpu(ref.data(), g.view, Q, 1, r, off.data(), idx.data(), d2.data());
          if (cnt == 2) {
            EXPECT_EQ(idx[1], 1);
          }
          ++found;
        }
      }
    }
  EXPECT_GT(found, 0) << "no float-rounded reach found to test";
}

TEST(Neighbors, BadInputsThrow) {
  std::vector<float> ref = {0, 0, 0, 1, 1, 1};
  std::vector<uint64_t> keys(16);
  std::vector<int64_t> start(16);
  std::vector<int32_t> count(16), sorted(2);
  lk::GridParams p;
  EXPECT_THROW(lk::neighbors_grid_build_cpu(ref.data(), 2, 0.f, 16, keys.data(), start.data(), count.data(),
                                            sorted.data(), &p), std::invalid_argument);
  EXPECT_THROW(lk::neighbors_grid_build_cpu(ref.data(), 2, 1e-7f, 16, keys.data(), start.data(), count.data(),
                                            sorted.data(), &p), std::invalid_argument);
  ref[3] = NAN;
  EXPECT_THROW(lk::neighbors_grid_build_cpu(ref.data(), 2, 1.f, 16, keys.data(), start.data(), count.data(),
                                            sorted.data(), &p), std::invalid_argument);
}
