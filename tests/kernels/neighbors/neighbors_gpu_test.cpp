// SPDX-License-Identifier: Apache-2.0
// CPU vs CUDA parity of the neighbour search: identical indices and distances (same math header).
#include <gtest/gtest.h>

#include <random>

#include "engine/device.h"
#include "io/geometry/neighbors.h"

using namespace leseg;

namespace {
Tensor cloud(int n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int> d(0, 40);
  std::vector<float> p(size_t(3 * n));
  for (auto& v : p) v = float(d(g)) * 0.125f;  // lattice: many ties
  return Tensor::from_vector(p, Shape{n, 3});
}
template <class T>
void expect_same(const Tensor& a, const Tensor& b, const char* what) {
  std::vector<T> x = a.to_vector<T>(), y = b.to_vector<T>();
  ASSERT_EQ(x.size(), y.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i]) && !(x[i] != x[i] && y[i] != y[i]) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: cpu " << x[i] << " cuda " << y[i];
  EXPECT_EQ(bad, 0) << what;
}
}  // namespace

TEST(NeighborsGpu, KnnAndRadiusMatchCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  Tensor ref = cloud(3001, 1), q = cloud(517, 2);
  for (float cell : {0.2f, 0.9f})
    for (int k : {1, 16, 40}) {
      io::KnnResult c = io::NeighborIndex(ref, cell).knn(q, k);
      io::KnnResult g = io::NeighborIndex(ref.to(Device::cuda()), cell).knn(q.to(Device::cuda()), k);
      expect_same<int32_t>(c.idx, g.idx, "knn idx");
      expect_same<float>(c.d2, g.d2, "knn d2");
    }
  io::RadiusResult c = io::radius_search(ref, q, 0.5f);
  io::RadiusResult g = io::radius_search(ref.to(Device::cuda()), q.to(Device::cuda()), 0.5f);
  EXPECT_GT(c.idx.numel(), q.size(0));
  expect_same<int64_t>(c.offsets, g.offsets, "radius offsets");
  expect_same<int32_t>(c.idx, g.idx, "radius idx");
  expect_same<float>(c.d2, g.d2, "radius d2");
}
