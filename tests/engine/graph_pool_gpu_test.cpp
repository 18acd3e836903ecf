// SPDX-License-Identifier: Apache-2.0
// Engine ops, autograd included, captured into a real CUDA graph with the caching allocator's graph pool
// (engine/allocator.h: begin_graph_pool ... end_graph_pool): the forward and backward of a small loss are captured
// once, the static input is rewritten before each replay, and every replay equals the same ops run eagerly, bit for
// bit. Eager memory allocated between replays is never written by a replay (its blocks cannot come from the graph's
// pool), and releasing the pool after the graph is destroyed returns its blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/rng.h"
#include "engine/stream_pool.h"
#include "engine/tensor.h"
#include "kernels/common/sync_mode.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

using namespace leseg;

#define REQUIRE_CUDA() \
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason()

namespace {
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
}  // namespace

TEST(GraphPoolGpu, CapturedForwardBackwardReplaysAsEagerAndKeepsItsMemory) {
  REQUIRE_CUDA();
#if LESEG_WITH_CUDA
  const Device d = Device::cuda();
  constexpr int64_t n = 40999;
  Generator g(5);
  Tensor x = Tensor::zeros(Shape{n}, DType::f32, d);  // the static input, rewritten before each replay
  Tensor w = randn(Shape{n}, g).to(d);
  w.requires_grad_(true);
  auto forward = [&](const Tensor& in) {
    Tensor y = relu(add(mul(in, w), 0.5));
    return std::make_pair(y, sum(mul(y, y)));
  };
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  synchronize(d);
  const uint64_t pool = new_graph_pool_id();
  Tensor y, loss, grad;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  {
    StreamGuard on_s(d, s);
    kernels::CaptureScope capturing;
    begin_graph_pool(d, pool, s);
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    std::string failure;
    try {
      auto [yy, ll] = forward(x);
      ll.backward();
      y = yy, loss = ll, grad = w.grad();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    const cudaError_t ended = cudaStreamEndCapture(s, &graph);
    end_graph_pool(d, s);
    ASSERT_EQ(failure, "") << "an engine op failed inside the capture";
    ASSERT_EQ(ended, cudaSuccess) << cudaGetErrorString(ended);
  }
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_TRUE(y.defined() && loss.defined() && grad.defined());
  EXPECT_GT(graph_pool_blocks(d, pool), 0u);
  w.set_grad(Tensor());

  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int step = 0; step < 4; ++step) {
    std::vector<float> xv(static_cast<size_t>(n));
    for (float& v : xv) v = nd(rng);
    Tensor sentinel;
    {
      StreamGuard on_s(d, s);
      x.copy_(Tensor::from_vector(xv, Shape{n}).to(d));
      sentinel = Tensor::full(Shape{4 * n}, 7.0, DType::f32, d);  // eager memory alive across the replay
    }
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    // The same ops eagerly, on the same device.
    auto [ey, el] = forward(Tensor::from_vector(xv, Shape{n}).to(d));
    el.backward();
    const Tensor eg = w.grad();
    w.set_grad(Tensor());
    EXPECT_TRUE(same_bits(y.to_vector<float>(), ey.to_vector<float>())) << "step " << step;
    EXPECT_TRUE(same_bits(loss.to_vector<float>(), el.to_vector<float>())) << "step " << step;
    EXPECT_TRUE(same_bits(grad.to_vector<float>(), eg.to_vector<float>())) << "step " << step;
    for (float v : sentinel.to_vector<float>()) ASSERT_EQ(v, 7.f) << "a replay wrote eager memory (step " << step << ")";
    for (const Tensor* t : {&y, &loss, &grad}) EXPECT_NE(sentinel.data_ptr(), t->data_ptr());
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  y = loss = grad = Tensor();
  release_graph_pool(d, pool);
  EXPECT_EQ(graph_pool_blocks(d, pool), 0u);
  cudaStreamDestroy(s);
#endif
}
