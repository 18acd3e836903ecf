// SPDX-License-Identifier: Apache-2.0
// Generator's CUDA-graph recording and GraphRngFeed (engine/rng.h); the draws themselves are in tensor.cpp.
#include "engine/rng.h"

#include <cstring>

#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/pinned_pool.h"
#include "engine/stream_pool.h"

#if LESEG_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace leseg {

void Generator::begin_graph(const uint64_t* base, Device word_device) {
  LESEG_CHECK(base != nullptr, "Generator::begin_graph: null base word");
  LESEG_CHECK(graph_base_ == nullptr, "Generator::begin_graph: a recording of this generator's draws is already open");
  graph_base_ = base;
  graph_word_device_ = word_device;
  graph_reserved_ = 0;
}

uint64_t Generator::end_graph() {
  LESEG_CHECK(graph_base_ != nullptr, "Generator::end_graph: no recording is open");
  graph_base_ = nullptr;
  const uint64_t r = graph_reserved_;
  graph_reserved_ = 0;
  return r;
}

void Generator::check_graph_draw(Device where, const char* what) const {
  LESEG_CHECK(!(where.is_cpu() && graph_word_device_.is_cuda()), what,
              ": a CPU draw while a CUDA graph records this generator's draws (its base word is on ",
              graph_word_device_.str(), "; a replay would not repeat host work)");
}

void Generator::check_host_draw(const char* what) const {
  LESEG_CHECK(graph_base_ == nullptr, what,
              ": a host draw while a CUDA graph records this generator's draws (a replay would not repeat host work)");
}

GraphRngFeed::GraphRngFeed(Generator& g, Device d) : g_(&g), d_(d), word_(Tensor::zeros(Shape{1}, DType::i64, d)) {}

const uint64_t* GraphRngFeed::base() const { return static_cast<const uint64_t*>(word_.data_ptr()); }

void GraphRngFeed::begin() {
  LESEG_CHECK(!recorded_, "GraphRngFeed::begin: this feed's graph is already recorded (one recording per feed)");
  g_->begin_graph(base(), d_);
}

void GraphRngFeed::end() {
  per_replay_ = g_->end_graph();
  recorded_ = true;
}

void GraphRngFeed::before_replay(kernels::StreamHandle stream) {
  LESEG_CHECK(recorded_, "GraphRngFeed::before_replay: nothing recorded yet (begin, record, end first)");
  LESEG_CHECK(!g_->recording_graph(), "GraphRngFeed::before_replay: a recording of the generator is open");
  const uint64_t offset = g_->offset();
  if (d_.is_cpu()) {
    std::memcpy(word_.data_ptr(), &offset, sizeof offset);
  } else {
#if LESEG_WITH_CUDA
    CudaDeviceGuard guard(d_);
    PinnedBlockPool& pool = pinned_pool();
    void* pin = pool.allocate(sizeof offset);
    std::memcpy(pin, &offset, sizeof offset);
    const cudaError_t r = cudaMemcpyAsync(word_.data_ptr(), pin, sizeof offset, cudaMemcpyHostToDevice,
                                          static_cast<cudaStream_t>(stream));
    if (r == cudaSuccess) pool.record_stream(pin, stream);
    record_stream(word_, stream);  // the replays on `stream` read the word: no reuse before they ran
    pool.free(pin);
    if (r != cudaSuccess) cudaGetLastError();
    LESEG_CHECK(r == cudaSuccess, "GraphRngFeed::before_replay: writing the base word on ", d_.str(),
                " failed: ", cudaGetErrorString(r));
#else
    (void)stream;
    LESEG_FAIL("GraphRngFeed: this build has no CUDA (device ", d_.str(), ")");
#endif
  }
  g_->advance(per_replay_);
}

}  // namespace leseg
