// SPDX-License-Identifier: Apache-2.0
// CUDA integer prefix sums (CUB DeviceScan over the widened input) equal the CPU twin bit for bit: sizes around
// CUB's tile boundaries and past 2^20, every input dtype, inclusive and exclusive, sums beyond i32; nothing read
// back inside the op.
#include <gtest/gtest.h>

#include <vector>

#include "engine/device.h"
#include "engine/host_sync.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

using namespace leseg;

TEST(ScanGpu, CumsumEqualsTheCpuTwin) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  for (int64_t n : {int64_t(1), int64_t(2), int64_t(255), int64_t(256), int64_t(257), int64_t(4097),
                    int64_t(1) << 20, (int64_t(1) << 20) + 37}) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[size_t(i)] = ((i * 2654435761LL) % 4099) * ((i % 3) ? 1 : -1) + (i % 5 == 0 ? (int64_t(1) << 33) : 0);
    const Tensor x = Tensor::from_vector(v, Shape{n});
    std::vector<int32_t> v32(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v32[size_t(i)] = int32_t(v[size_t(i)] % 30011);
    const Tensor x32 = Tensor::from_vector(v32, Shape{n});
    const Tensor m = gt(x, 0.0);
    for (bool ex : {false, true}) {
      EXPECT_EQ(cumsum(x.to(cu), ex).to_vector<int64_t>(), cumsum(x, ex).to_vector<int64_t>()) << n;
      EXPECT_EQ(cumsum(x32.to(cu), ex).to_vector<int64_t>(), cumsum(x32, ex).to_vector<int64_t>()) << n;
      EXPECT_EQ(cumsum(m.to(cu), ex).to_vector<int64_t>(), cumsum(m, ex).to_vector<int64_t>()) << n;
    }
  }
  const Tensor x = Tensor::from_vector<int64_t>({4, 5, 6}, Shape{3}, cu);
  HostSyncCounter counter;
  const Tensor y = cumsum(x, true);
  EXPECT_EQ(counter.total(), 0) << counter.report();
  EXPECT_TRUE(y.device().is_cuda());
  EXPECT_EQ(y.to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 9}));
}
