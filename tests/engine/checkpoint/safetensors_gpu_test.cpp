// SPDX-License-Identifier: Apache-2.0
// safetensors from CUDA tensors: the packed save (device-to-device copies into a staging buffer, one read per device
// and 64 MiB chunk, a larger tensor alone) writes the same bytes as from CPU copies, with CPU tensors mixed in.
#include <gtest/gtest.h>

#include <string>

#include "engine/checkpoint/safetensors.h"
#include "engine/device.h"
#include "engine/host_sync.h"
#include "engine/rng.h"

using namespace leseg;

TEST(SafetensorsGpu, PackedSaveEqualsTheCpuBytes) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const Device cu = Device::cuda();
  Generator g(3);
  StateDict cpu;
  for (int i = 0; i < 60; ++i) {
    std::string name = "w";
    name += std::to_string(100 + i);  // (not "w" + to_string(): GCC 12's -Wrestrict false positive at -O3)
    cpu[name] = randn(Shape{17, 33 + i}, g);
  }
  cpu["half"] = randn(Shape{5, 7}, g).to(DType::bf16);
  cpu["steps"] = Tensor::scalar<int64_t>(12345);
  cpu["mask"] = Tensor::from_vector<bool>({true, false, true}, Shape{3});
  cpu["big"] = randn(Shape{int64_t(17) << 20}, g);  // 68 MiB: over the chunk, its own read
  cpu["empty"] = Tensor::zeros(Shape{0, 3});
  StateDict mixed;
  for (const auto& [name, t] : cpu) mixed[name] = name == "steps" ? t : t.to(cu);  // one stays on the host
  const std::string want = safetensors_serialize(cpu);
  HostSyncCounter counter;
  const std::string got = safetensors_serialize(mixed);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "the packed save wrote other bytes";
  int64_t real = 0;
  for (const auto& e : counter.events()) real += e.real;
  EXPECT_EQ(real, 2) << "one read for the packed chunk, one for the large tensor:\n" << counter.report();
}
