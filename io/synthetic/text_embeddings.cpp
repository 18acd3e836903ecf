// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/text_embeddings.h"

#include <cmath>
#include <map>
#include <string>

#include "io/synthetic/random.h"

namespace leseg::io::synth {

namespace {
std::vector<double> gaussian_unit(int d, uint64_t seed, uint64_t stream) {
  Rng r(seed, stream);
  std::vector<double> v(static_cast<size_t>(d));
  double n = 0;
  for (auto& x : v) {
    x = r.normal();
    n += x * x;
  }
  n = std::sqrt(std::max(n, 1e-300));
  for (auto& x : v) x /= n;
  return v;
}
uint64_t stable_hash(const std::string& s) {  // FNV-1a: std::hash is not portable
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

Tensor make_text_embeddings(const std::vector<ClassSpec>& classes, uint64_t seed, const TextEmbeddingOptions& opt) {
  LESEG_CHECK(opt.dim >= 2, "make_text_embeddings: dim must be >= 2, got ", opt.dim);
  const int64_t C = int64_t(classes.size()), D = opt.dim;
  std::vector<float> out(size_t(C * D));
  for (int64_t c = 0; c < C; ++c) {
    std::vector<double> e(size_t(D), 0.0);
    auto add = [&](const std::vector<double>& g, double w) {
      for (int64_t d = 0; d < D; ++d) e[size_t(d)] += w * g[size_t(d)];
    };
    add(gaussian_unit(opt.dim, seed, stable_hash("class:" + classes[size_t(c)].name)), opt.own_weight);
    for (const auto& [attr, w] : classes[size_t(c)].attributes) add(gaussian_unit(opt.dim, seed, stable_hash("attr:" + attr)), w);
    add(gaussian_unit(opt.dim, seed, stable_hash("noise:" + classes[size_t(c)].name)), opt.noise);
    double n = 0;
    for (double x : e) n += x * x;
    n = std::sqrt(n);
    for (int64_t d = 0; d < D; ++d) out[size_t(c * D + d)] = float(e[size_t(d)] / n);
  }
  return Tensor::from_vector(out, Shape{C, D});
}

std::vector<double> confusion_from_embeddings(const Tensor& text_embeddings, double tau) {
  LESEG_CHECK(text_embeddings.defined() && text_embeddings.ndim() == 2, "confusion_from_embeddings: need (C, D)");
  LESEG_CHECK(tau > 0, "confusion_from_embeddings: tau must be > 0");
  const int64_t C = text_embeddings.size(0), D = text_embeddings.size(1);
  std::vector<float> e = text_embeddings.to_vector<float>();
  std::vector<double> P(size_t(C * C), 0.0);
  for (int64_t i = 0; i < C; ++i) {
    double z = 0;
    for (int64_t j = 0; j < C; ++j) {
      if (j == i) continue;
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += double(e[size_t(i * D + d)]) * e[size_t(j * D + d)];
      P[size_t(i * C + j)] = std::exp(s / tau);
      z += P[size_t(i * C + j)];
    }
    for (int64_t j = 0; j < C; ++j) P[size_t(i * C + j)] = z > 0 ? P[size_t(i * C + j)] / z : 0.0;
  }
  return P;
}

Tensor caption_embedding(const Tensor& text_embeddings, const std::vector<int32_t>& classes, double sigma,
                         uint64_t seed) {
  const int64_t C = text_embeddings.size(0), D = text_embeddings.size(1);
  const float* e = text_embeddings.data<float>();
  std::vector<double> v(size_t(D), 0.0);
  int m = 0;
  for (int32_t c : classes) {
    if (c < 0 || c >= C) continue;
    for (int64_t d = 0; d < D; ++d) v[size_t(d)] += e[c * D + d];
    ++m;
  }
  Rng r(seed, 0xCA9);
  double n = 0;
  for (int64_t d = 0; d < D; ++d) {
    v[size_t(d)] = (m ? v[size_t(d)] / m : 0.0) + sigma * r.normal() / std::sqrt(double(D));
    n += v[size_t(d)] * v[size_t(d)];
  }
  n = std::sqrt(std::max(n, 1e-300));
  std::vector<float> out(static_cast<size_t>(D));
  for (int64_t d = 0; d < D; ++d) out[size_t(d)] = float(v[size_t(d)] / n);
  return Tensor::from_vector(out, Shape{D});
}

}  // namespace leseg::io::synth
