// SPDX-License-Identifier: Apache-2.0
// Generator draws in a real CUDA graph: a dropout keep mask and uniforms captured once, replayed five times with
// GraphRngFeed writing the base word before each replay; every replay equals the eager draws bit for bit and
// leaves the generator where the eager draws left theirs. Without the feed a replay repeats its numbers.
#include <gtest/gtest.h>

#include <vector>

#include "engine/device.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/random/random.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

using namespace leseg;

#define REQUIRE_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason()

TEST(GraphRngGpu, ReplayedDrawsAreTheEagerDraws) {
  REQUIRE_CUDA();
#if LESEG_WITH_CUDA
  const Device d = Device::cuda();
  constexpr int64_t kMask = 70001, kUni = 513;  // several blocks, odd tails
  Generator eager(11, 4), graph(11, 4);
  rand(Shape{17}, eager, DType::f32, d), rand(Shape{17}, graph, DType::f32, d);

  Tensor mask = Tensor::zeros(Shape{kMask}, DType::u8, d), uni = Tensor::zeros(Shape{kUni}, DType::f32, d);
  GraphRngFeed feed(graph, d);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  synchronize(d);  // the zero fills and the word ran before the capture
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;
  feed.begin();
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  kernels::bernoulli_mask_cuda(mask.data<uint8_t>(), kMask, 0.8f, graph.seed(), graph.subsequence(),
                               graph.reserve(kMask, d, "mask"), s);
  kernels::uniform_cuda<float>(uni.data<float>(), kUni, graph.seed(), graph.subsequence(),
                               graph.reserve(kUni, d, "uni"), s);
  ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  feed.end();
  ASSERT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
  EXPECT_EQ(graph.offset(), 17u);
  EXPECT_EQ(feed.per_replay(), uint64_t(kMask + kUni));

  std::vector<uint8_t> first;
  for (int step = 0; step < 5; ++step) {
    const std::vector<uint8_t> want_mask = bernoulli_mask(Shape{kMask}, 0.8, eager, d).to_vector<uint8_t>();
    const std::vector<float> want_uni = rand(Shape{kUni}, eager, DType::f32, d).to_vector<float>();
    feed.before_replay(s);
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    const std::vector<uint8_t> got_mask = mask.to_vector<uint8_t>();
    EXPECT_EQ(got_mask, want_mask) << "step " << step;
    EXPECT_EQ(uni.to_vector<float>(), want_uni) << "step " << step;
    EXPECT_EQ(graph.offset(), eager.offset()) << "step " << step;
    if (step == 0) first = got_mask;
  }
  // Without the feed, a replay reads the last word again: the previous replay's numbers.
  const std::vector<uint8_t> last = mask.to_vector<uint8_t>();
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(mask.to_vector<uint8_t>(), last);
  EXPECT_NE(last, first);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
#endif
}
