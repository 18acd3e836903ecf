// SPDX-License-Identifier: Apache-2.0
// CPU-vs-CUDA parity for every registered op case (f32): outputs and input gradients, element by element.
// Skips visibly (with the reason) when no CUDA device answers.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "tests/engine/ops/harness_common.h"

namespace leseg::testing {

class OpParity : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpParity, CpuVsCuda) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  const OpCase& c = GetParam();
  auto in_cpu = make_inputs(c, DType::f32, Device::cpu());
  auto in_gpu = make_inputs(c, DType::f32, Device::cuda(0));
  auto out_cpu = c.fn(in_cpu);
  auto out_gpu = c.fn(in_gpu);
  ASSERT_EQ(out_cpu.size(), out_gpu.size());
  for (size_t k = 0; k < out_cpu.size(); ++k) {
    ASSERT_TRUE(out_gpu[k].device().is_cuda()) << "output " << k << " left the device";
    std::string d = compare(out_gpu[k].to(Device::cpu()), out_cpu[k], c.parity_atol, c.parity_rtol, "output " + std::to_string(k));
    EXPECT_TRUE(d.empty()) << c.op << "/" << c.name << "\n" << d;
  }
  if (!c.differentiable) return;
  backward_weighted(out_cpu, loss_weights(out_cpu, DType::f32, Device::cpu()));
  backward_weighted(out_gpu, loss_weights(out_gpu, DType::f32, Device::cuda(0)));
  auto g_cpu = input_grads(in_cpu), g_gpu = input_grads(in_gpu);
  for (size_t i = 0; i < g_cpu.size(); ++i) {
    if (!g_cpu[i].defined()) continue;
    ASSERT_TRUE(g_gpu[i].defined());
    std::string d = compare(g_gpu[i].to(Device::cpu()), g_cpu[i], c.parity_atol, c.parity_rtol, "grad " + std::to_string(i));
    EXPECT_TRUE(d.empty()) << c.op << "/" << c.name << "\n" << d;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpParity, ::testing::ValuesIn(op_cases()), case_name);

}  // namespace leseg::testing
