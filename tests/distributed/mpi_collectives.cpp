// SPDX-License-Identifier: Apache-2.0
// Every collective of the MPI backend against hand-computed results, for any world size (CTest runs this
// executable under `mpirun -np K` for K = 1..4: tests/distributed/CMakeLists.txt). Rank r contributes values that
// depend on r, so the expected sums / maxima / gathers are closed forms in (r, K).
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "engine/distributed/comm.h"
#include "engine/error.h"

using namespace leseg;
using leseg::dist::ReduceOp;

namespace {

dist::Communicator& comm() {
  dist::Communicator& c = dist::world();
  return c;
}

template <class T>
std::vector<T> values(const Tensor& t) {
  return t.to_vector<T>();
}

}  // namespace

TEST(MpiCollectives, LaunchedThroughMpi) {
  // This executable only runs under mpirun: the world must be the MPI backend with the launcher's size.
  EXPECT_EQ(comm().backend(), "mpi");
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(comm().size(), std::atoi(n));
  EXPECT_GE(comm().rank(), 0);
  EXPECT_LT(comm().rank(), comm().size());
  EXPECT_GE(comm().local_rank(), 0);
  EXPECT_LT(comm().local_rank(), comm().local_size());
}

TEST(MpiCollectives, AllReduceSumMaxMinEveryDtype) {
  const int r = comm().rank(), K = comm().size();
  // f32: x_i = r + i/4 (exact in binary) -> Σ_r = K(K-1)/2 + K i/4
  Tensor f = Tensor::from_vector(std::vector<float>{float(r), float(r) + 0.25f, float(r) + 0.5f}, Shape{3});
  comm().all_reduce(f);
  const float base = float(K * (K - 1) / 2);
  EXPECT_EQ(values<float>(f), (std::vector<float>{base, base + 0.25f * K, base + 0.5f * K}));
  Tensor d = Tensor::from_vector(std::vector<double>{1.0 * (r + 1), -2.0 * r}, Shape{2});
  comm().all_reduce(d, ReduceOp::max);
  EXPECT_EQ(values<double>(d), (std::vector<double>{double(K), 0.0}));
  Tensor i32 = Tensor::from_vector(std::vector<int32_t>{r, 10 - r}, Shape{2});
  comm().all_reduce(i32, ReduceOp::min);
  EXPECT_EQ(values<int32_t>(i32), (std::vector<int32_t>{0, 10 - (K - 1)}));
  Tensor i64 = Tensor::from_vector(std::vector<int64_t>{int64_t(1) << (40 + r), 7}, Shape{2, 1});
  comm().all_reduce(i64);
  int64_t s = 0;
  for (int k = 0; k < K; ++k) s += int64_t(1) << (40 + k);
  EXPECT_EQ(values<int64_t>(i64), (std::vector<int64_t>{s, 7 * K}));
  EXPECT_EQ(i64.shape(), (Shape{2, 1}));
  // A large buffer (several MiB: Open MPI's large-message algorithm) sums exactly in integers-as-floats.
  const int64_t n = 3 << 20;
  std::vector<float> big(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) big[size_t(i)] = float((i % 1000) * (r + 1));
  Tensor b = Tensor::from_vector(big, Shape{n});
  comm().all_reduce(b);
  std::vector<float> got = values<float>(b);
  const float tri = float(K * (K + 1) / 2);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad += got[size_t(i)] != float(i % 1000) * tri;
  EXPECT_EQ(bad, 0);
}

TEST(MpiCollectives, BroadcastFromEveryRoot) {
  const int r = comm().rank(), K = comm().size();
  for (int root = 0; root < K; ++root) {
    Tensor t = Tensor::from_vector(std::vector<double>{double(r * 100 + 1), double(r * 100 + 2)}, Shape{2});
    comm().broadcast(t, root);
    EXPECT_EQ(values<double>(t), (std::vector<double>{double(root * 100 + 1), double(root * 100 + 2)})) << "root " << root;
    std::string s = r == root ? "from root " + std::to_string(root) : "junk";
    comm().broadcast(s, root);
    EXPECT_EQ(s, "from root " + std::to_string(root));
  }
  Tensor t = Tensor::zeros(Shape{1});
  EXPECT_THROW(comm().broadcast(t, K), Error);  // checked before any communication
}

TEST(MpiCollectives, AllGather) {
  const int r = comm().rank(), K = comm().size();
  Tensor t = Tensor::from_vector(std::vector<int32_t>{r, r * r, -r, 5, 6, 7}, Shape{2, 3});
  Tensor g = comm().all_gather(t);
  ASSERT_EQ(g.shape(), (Shape{2 * K, 3}));
  std::vector<int32_t> want;
  for (int k = 0; k < K; ++k) want.insert(want.end(), {k, k * k, -k, 5, 6, 7});
  EXPECT_EQ(values<int32_t>(g), want);
  std::vector<uint64_t> ids = comm().all_gather(uint64_t(1000 + r));
  for (int k = 0; k < K; ++k) EXPECT_EQ(ids[size_t(k)], uint64_t(1000 + k));
  std::vector<std::string> names = comm().all_gather(std::string(size_t(r + 1), char('a' + r)));
  ASSERT_EQ(int(names.size()), K);
  for (int k = 0; k < K; ++k) EXPECT_EQ(names[size_t(k)], std::string(size_t(k + 1), char('a' + k)));
}

TEST(MpiCollectives, ReduceScatter) {
  const int r = comm().rank(), K = comm().size();
  // t (2K, 2): row j = [j + r, 10 r]; rank k gets rows 2k, 2k+1 of the sum: [K j + K(K-1)/2, 10 K(K-1)/2]
  std::vector<float> v;
  for (int j = 0; j < 2 * K; ++j) v.insert(v.end(), {float(j + r), float(10 * r)});
  Tensor out = comm().reduce_scatter(Tensor::from_vector(v, Shape{2 * K, 2}));
  ASSERT_EQ(out.shape(), (Shape{2, 2}));
  const float tri = float(K * (K - 1) / 2);
  std::vector<float> want;
  for (int j = 2 * r; j < 2 * r + 2; ++j) want.insert(want.end(), {float(K * j) + tri, 10 * tri});
  EXPECT_EQ(values<float>(out), want);
  Tensor mx = comm().reduce_scatter(Tensor::from_vector(std::vector<int64_t>(size_t(K), r), Shape{K}), ReduceOp::max);
  EXPECT_EQ(values<int64_t>(mx), (std::vector<int64_t>{K - 1}));
  if (K > 1) {
    EXPECT_THROW(comm().reduce_scatter(Tensor::zeros(Shape{K + 1})), Error);
  }
}

TEST(MpiCollectives, BarrierAndHostHelpers) {
  const int r = comm().rank(), K = comm().size();
  comm().barrier();
  std::vector<double> d{double(r), 1.0};
  comm().all_reduce(d);
  EXPECT_EQ(d, (std::vector<double>{double(K * (K - 1) / 2), double(K)}));
  std::vector<int64_t> m{r};
  comm().all_reduce(m, ReduceOp::max);
  EXPECT_EQ(m[0], K - 1);
  comm().barrier();
}

TEST(MpiCollectives, UnsupportedDtypeIsAClearError) {
  Tensor h = Tensor::zeros(Shape{2}, DType::f16);
  try {
    comm().all_reduce(h);
    FAIL() << "f16 all_reduce on the MPI backend must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f16"), std::string::npos) << e.what();
  }
}
