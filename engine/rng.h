// SPDX-License-Identifier: Apache-2.0
// Random state: a Generator is (seed, offset) over the Philox4x32-10 stream; each draw of n values takes
// indices [offset, offset + n) and advances the offset, on CPU and CUDA alike. Its state is two integers,
// saved in checkpoints so a resumed run draws the same numbers.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace leseg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t subsequence = 0) : seed_(seed), subsequence_(subsequence) {}
  uint64_t seed() const { return seed_; }
  uint64_t subsequence() const { return subsequence_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset, uint64_t subsequence = 0) {
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

 private:
  uint64_t seed_ = 0, subsequence_ = 0, offset_ = 0;
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
