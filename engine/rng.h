// SPDX-License-Identifier: Apache-2.0
// Random state: a Generator is (seed, offset) over the Philox4x32-10 stream; each draw of n values takes
// indices [offset, offset + n) and advances the offset, on CPU and CUDA alike. Its state is two integers,
// saved in checkpoints so a resumed run draws the same numbers.
//
// CUDA graphs: a kernel recorded into a graph keeps its launch arguments, so a Philox offset passed by value
// would repeat the recorded draws on every replay (the same dropout mask every step). While a graph is recorded
// (begin_graph .. end_graph) a draw therefore reserves offsets *relative to a device word* (`base`) that the
// kernels read when they run, and the generator does not move (recording runs nothing). Before each replay,
// GraphRngFeed writes the generator's offset into the word and advances the generator by what the recorded draws
// reserved: each replay draws exactly the numbers the same draws made eagerly would (PyTorch's "philox offset
// extragraph" scheme), and the state a checkpoint saves stays the eager one.
#pragma once
#include <cstdint>

#include "engine/tensor.h"
#include "kernels/random/random_math.h"

namespace leseg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t subsequence = 0) : seed_(seed), subsequence_(subsequence) {}
  uint64_t seed() const { return seed_; }
  uint64_t subsequence() const { return subsequence_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset, uint64_t subsequence = 0) {
    LESEG_CHECK(graph_base_ == nullptr, "Generator::set_state: a CUDA-graph recording of this generator's draws is "
                "open (its reservations are relative to the state it began with)");
    seed_ = seed;
    offset_ = offset;
    subsequence_ = subsequence;
  }
  // Reserve n stream indices; returns the first.
  uint64_t advance(uint64_t n) {
    uint64_t o = offset_;
    offset_ += n;
    return o;
  }
  // Reserve n stream indices for a kernel: eagerly advance(n); while a graph is recorded, offsets relative to
  // the graph's base word (the generator does not move).
  // `where`: the device the drawing kernel runs on; a CPU kernel cannot read a CUDA base word (an error naming
  // `what`).
  kernels::PhiloxOffset reserve(uint64_t n, Device where, const char* what) {
    if (!graph_base_) return kernels::PhiloxOffset(advance(n));
    check_graph_draw(where, what);
    const uint64_t o = graph_reserved_;
    graph_reserved_ += n;
    return kernels::PhiloxOffset(graph_base_, o);
  }
  // Starts recording draws against `base` (memory on `word_device` holding one uint64, written before each
  // replay). Errors: a null base, or a recording already open.
  void begin_graph(const uint64_t* base, Device word_device);
  // Ends the recording; returns the stream indices one replay reserves. An error when none is open.
  uint64_t end_graph();
  bool recording_graph() const { return graph_base_ != nullptr; }
  // Host draws (randperm, uniform: CPU work whose values a replay would not repeat) refuse a recording.
  void check_host_draw(const char* what) const;

 private:
  uint64_t seed_ = 0, subsequence_ = 0, offset_ = 0;
  void check_graph_draw(Device where, const char* what) const;
  const uint64_t* graph_base_ = nullptr;
  Device graph_word_device_ = Device::cpu();
  uint64_t graph_reserved_ = 0;
};

// The base word of one generator's draws in one graph, and what feeds it before every replay.
//   GraphRngFeed feed(g, device);        // allocates the word (one u64 on `device`)
//   feed.begin();  ...record the graph's launches...  feed.end();
//   per step: feed.before_replay(stream); launch the graph on `stream`
// before_replay writes the generator's current offset into the word, ordered on `stream` before the replay (on
// CUDA through a pinned block and an async copy; the block is reused only after that copy ran), then advances
// the generator by the recorded reservation. On a CPU device the word is written directly (host emulation).
class GraphRngFeed {
 public:
  GraphRngFeed(Generator& g, Device d);
  void begin();
  void end();
  void before_replay(kernels::StreamHandle stream);
  uint64_t per_replay() const { return per_replay_; }
  const uint64_t* base() const;

 private:
  Generator* g_;
  Device d_;
  Tensor word_;  // one i64 element, read as the uint64 base
  uint64_t per_replay_ = 0;
  bool recorded_ = false;
};

// Process-wide generator used by ops that need randomness and were given none (dropout).
Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor rand(const Shape& s, Generator& g, DType t = DType::f32, Device d = Device::cpu());
Tensor randn(const Shape& s, Generator& g, DType t = DType::f32, Device d = Device::cpu());
// Values in [lo, hi) drawn uniformly (f32/f64).
Tensor uniform(const Shape& s, double lo, double hi, Generator& g, DType t = DType::f32, Device d = Device::cpu());
// A random permutation of 0..n-1 (i64, CPU), Fisher-Yates driven by the generator's stream.
Tensor randperm(int64_t n, Generator& g);
// Mask with P(1) = keep_prob (u8).
Tensor bernoulli_mask(const Shape& s, double keep_prob, Generator& g, Device d = Device::cpu());

}  // namespace leseg
