// SPDX-License-Identifier: Apache-2.0
// Rng: a tiny portable generator for the synthetic scenes (splitmix64 over a (seed, stream) pair), so a
// seed gives identical bytes on every platform and standard library (std:: distributions are not
// portable). Also a stateless hash for per-position noise (textures, low-frequency fields).
#pragma once
#include <cmath>
#include <cstdint>

namespace leseg::io::synth {

inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b + 0x632be59bd9b4e019ull)); }
// Uniform in [0, 1) from a hash of integers.
inline double hash_unit(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) {
  return double(hash_combine(hash_combine(a, b), hash_combine(c, d)) >> 11) * (1.0 / 9007199254740992.0);
}

class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0) : state_(hash_combine(seed, stream)) {}
  uint64_t next() { return mix64(state_ += 0x9e3779b97f4a7c15ull); }
  double unit() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  uint64_t below(uint64_t n) { return n <= 1 ? 0 : next() % n; }
  int range(int lo, int hi) { return lo + int(below(uint64_t(hi - lo + 1))); }  // inclusive
  bool chance(double p) { return unit() < p; }
  double normal() {  // Box-Muller, one value per call
    double u1 = unit(), u2 = unit();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace leseg::io::synth
