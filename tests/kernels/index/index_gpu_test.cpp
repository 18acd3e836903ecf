// SPDX-License-Identifier: Apache-2.0
// CUDA gather / scatter-add vs the CPU twin: atomic path on dyadic values (exact in any order), the
// deterministic CSR path bitwise equal to the CPU twin on arbitrary values and across runs, and
// out-of-range indices reported from the device check.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/host_sync.h"
#include "engine/ops/shape_ops.h"
#include "engine/rng.h"

using namespace leseg;

TEST(IndexGpu, ScatterAddAtomicAndDeterministic) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  const int64_t R = 101, D = 33, n = 5000;
  std::vector<int64_t> iv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) iv[size_t(i)] = (i * 7919) % R;
  Tensor idx = Tensor::from_vector(iv, Shape{n});
  std::vector<float> dy(static_cast<size_t>(n * D));
  for (size_t i = 0; i < dy.size(); ++i) dy[i] = float(int(i % 13) - 6) * 0.125f;
  Tensor src = Tensor::from_vector(dy, Shape{n, D});
  auto ref = scatter_add(R, idx, src).to_vector<float>();
  EXPECT_EQ(scatter_add(R, idx.to(cu), src.to(cu)).to_vector<float>(), ref);
  Generator g(7);
  Tensor srcr = randn(Shape{n, D}, g);
  auto refr = scatter_add(R, idx, srcr).to_vector<float>();
  set_deterministic(true);
  auto a = scatter_add(R, idx.to(cu), srcr.to(cu)).to_vector<float>();
  auto b = scatter_add(R, idx.to(cu), srcr.to(cu)).to_vector<float>();
  set_deterministic(false);
  EXPECT_EQ(a, refr);
  EXPECT_EQ(a, b);
  Tensor x = randn(Shape{R, D}, g);
  EXPECT_EQ(index_select(x.to(cu), 0, idx.to(cu)).to_vector<float>(), index_select(x, 0, idx).to_vector<float>());
  Tensor bad = Tensor::from_vector<int32_t>({0, 5, int32_t(R) + 3}, Shape{3}, cu);
  // CUDA records a bad index in the device error slot (no sync per call); the step's check raises it.
  (void)index_select(x.to(cu), 0, bad);
  EXPECT_THROW(check_device_errors(cu), Error);
}

// Deterministic scatter-add builds its CSR on the device (segment_csr_cuda): no host read per call, i32 indices too,
// and an out-of-range index is left out and reported by check_device_errors (the host-built CSR it replaces would
// have indexed past its arrays).
TEST(IndexGpu, DeterministicScatterAddReadsNothingOnTheHost) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  const int64_t R = 57, D = 5, n = 2000;
  std::vector<int32_t> iv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) iv[size_t(i)] = int32_t((i * 104729) % R);
  Generator g(3);
  Tensor src = randn(Shape{n, D}, g);
  Tensor idx = Tensor::from_vector(iv, Shape{n});
  const auto ref = scatter_add(R, idx, src).to_vector<float>();
  Tensor idc = idx.to(cu), srcc = src.to(cu);
  set_deterministic(true);
  Tensor out;
  {
    HostSyncCounter c;
    out = scatter_add(R, idc, srcc);
    EXPECT_EQ(c.total(), 0) << c.report();
  }
  EXPECT_EQ(out.to_vector<float>(), ref);
  iv[17] = int32_t(R) + 2;
  Tensor bad = Tensor::from_vector(iv, Shape{n}).to(cu);
  (void)scatter_add(R, bad, srcc);
  set_deterministic(false);
  EXPECT_THROW(check_device_errors(cu), Error);
}
