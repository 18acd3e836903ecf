// SPDX-License-Identifier: Apache-2.0
// engine/profiler.h: scopes nest (total >= self, the parent's self excludes the child), recorded forward ops and
// backward closures get rows with calls and allocated bytes, steps are counted at "leseg::optimizer", and the
// profiler off records nothing.
#include <gtest/gtest.h>

#include <string>

#include "engine/autograd.h"
#include "engine/nvtx.h"
#include "engine/profiler.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/tensor.h"

using namespace leseg;

namespace {
struct ProfilerOn {
  bool prev = profiler::enabled();
  ProfilerOn() {
    profiler::reset();
    profiler::enable(true);
  }
  ~ProfilerOn() {
    profiler::enable(prev);
    profiler::reset();
  }
};
bool has_row(const std::string& t, const std::string& name) { return t.find("\n" + name + " ") != std::string::npos; }
}  // namespace

TEST(Profiler, OffRecordsNothing) {
  const bool prev = profiler::enabled();
  profiler::enable(false);
  profiler::reset();
  { NvtxScope s("leseg::forward"); }
  EXPECT_FALSE(has_row(profiler::table(), "leseg::forward"));
  profiler::enable(prev);
}

TEST(Profiler, ForwardBackwardRowsAndSteps) {
  ProfilerOn on;
  for (int step = 0; step < 2; ++step) {
    Tensor w = Tensor::ones(Shape{64, 64}).requires_grad_(true);
    Tensor loss;
    {
      NvtxScope f("leseg::forward");
      Tensor y = sum(w * w);
      loss = y * 2.0;
    }
    {
      NvtxScope b("leseg::backward");
      loss.backward();
    }
    { NvtxScope o("leseg::optimizer"); }
  }
  EXPECT_EQ(profiler::steps(), 2);
  const std::string t = profiler::table(100);
  EXPECT_TRUE(has_row(t, "leseg::forward")) << t;
  EXPECT_TRUE(has_row(t, "leseg::backward")) << t;
  EXPECT_NE(t.find("fwd:"), std::string::npos) << t;
  EXPECT_NE(t.find("bwd:"), std::string::npos) << t;
  EXPECT_NE(t.find("2 steps"), std::string::npos) << t;
}

// Without a CUDA device there is no device column (the CPU table keeps its layout).
TEST(Profiler, NoDeviceColumnOnCpu) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present: the device column is on (tested in the GPU suite)";
  ProfilerOn on;
  {
    NvtxScope f("leseg::forward");
    Tensor y = sum(Tensor::ones(Shape{8, 8}) * 2.0);
  }
  const std::string t = profiler::table();
  EXPECT_TRUE(has_row(t, "leseg::forward")) << t;
  EXPECT_EQ(t.find("device ms"), std::string::npos) << t;
}
