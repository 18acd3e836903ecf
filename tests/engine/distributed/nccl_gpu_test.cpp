// SPDX-License-Identifier: Apache-2.0
// NCCL backend, single-rank smoke test (the most one machine with one GPU can prove): the communicator boots
// through the world communicator (MPI under mpirun, else the local one), every collective runs on the device's
// current stream and returns the hand-computed result for a world of one, a 25 MiB all-reduce (one gradient
// bucket) completes, and a CPU tensor is a clear error. Skips without a CUDA device or without NCCL in the build
// (LESEG_REQUIRE_GPU=1 turns the skip into a failure on the GPU machine).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "engine/device.h"
#include "engine/distributed/comm.h"
#include "engine/error.h"

using namespace leseg;

TEST(NcclSmoke, SingleRankCollectives) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  if (!dist::nccl_built()) GTEST_SKIP() << "built without NCCL";
  const Device dev = Device::cuda(0);
  dist::Communicator& c = dist::world_nccl(dev);
  EXPECT_EQ(c.backend(), "nccl");
  EXPECT_EQ(c.size(), dist::world().size());
  ASSERT_EQ(c.size(), 1) << "this smoke test is single-rank";
  Tensor t = Tensor::from_vector(std::vector<float>{1.f, 2.5f, -3.f}, Shape{3}, dev);
  c.all_reduce(t);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.f, 2.5f, -3.f}));
  c.all_reduce(t, dist::ReduceOp::max);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.f, 2.5f, -3.f}));
  c.broadcast(t, 0);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.f, 2.5f, -3.f}));
  Tensor g = c.all_gather(Tensor::from_vector(std::vector<int64_t>{7, 8}, Shape{2, 1}, dev));
  EXPECT_EQ(g.shape(), (Shape{2, 1}));
  EXPECT_EQ(g.to_vector<int64_t>(), (std::vector<int64_t>{7, 8}));
  Tensor rs = c.reduce_scatter(Tensor::from_vector(std::vector<double>{1.0, 2.0}, Shape{2}, dev));
  EXPECT_EQ(rs.to_vector<double>(), (std::vector<double>{1.0, 2.0}));
  c.barrier();
  Tensor cpu = Tensor::zeros(Shape{2});
  EXPECT_THROW(c.all_reduce(cpu), Error);
  // One 25 MiB gradient bucket: completes, values intact; time printed for the benchmark notes.
  Tensor big = Tensor::full(Shape{int64_t(25) << 18}, 0.5, DType::f32, dev);
  c.all_reduce(big);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) c.all_reduce(big);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 10;
  std::printf("nccl 1-rank all_reduce of 25 MiB: %.3f ms\n", 1e3 * s);
  std::vector<float> v = big.narrow(0, 4).to_vector<float>();
  EXPECT_EQ(v, std::vector<float>(4, 0.5f));
}
