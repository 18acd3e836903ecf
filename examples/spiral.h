// SPDX-License-Identifier: Apache-2.0
// Two-class spiral: the smallest end-to-end check of the engine (tensors, autograd, Linear/MLP, Adam,
// log_softmax + one-hot NLL, cosine LR schedule). Header-only so that examples/spiral.cpp and tests/examples/spiral_test.cpp
// run the same routine.
// Data: class c in {0, 1}, point i of n: t = i / n, r = 0.05 + 0.95 t, angle = 2 turns * 2 pi t + c pi,
// (x, y) = r (cos, sin) + N(0, noise^2), drawn from a seeded Generator (same data on every device).
#pragma once
#include <cmath>
#include <cstdint>
#include <numbers>
#include <ostream>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/optim/adam.h"
#include "engine/optim/scheduler.h"
#include "engine/rng.h"

namespace leseg::examples {

struct SpiralConfig {
  int epochs = 60;
  uint64_t seed = 0;
  Device device = Device::cpu();
  int64_t points_per_class = 500;
  double turns = 2.0;
  double noise = 0.02;
  int64_t batch = 64;
  double lr = 2e-2;
};

struct SpiralResult {
  double final_loss = 0;
  double train_accuracy = 0;  // over all points, eval pass after the last epoch
};

struct SpiralData {
  Tensor x;  // (N, 2) f32
  Tensor y;  // (N,) i64
};

inline SpiralData make_spiral(const SpiralConfig& c, Generator& g) {
  const int64_t n = c.points_per_class, N = 2 * n;
  Tensor noise = randn(Shape{N, 2}, g);
  auto nz = noise.to_vector<float>();
  std::vector<float> xs(size_t(N) * 2);
  std::vector<int64_t> ys(static_cast<size_t>(N));
  for (int64_t cls = 0; cls < 2; ++cls)
    for (int64_t i = 0; i < n; ++i) {
      int64_t k = cls * n + i;
      double t = double(i) / double(n);
      double r = 0.05 + 0.95 * t;
      double a = c.turns * 2.0 * std::numbers::pi * t + double(cls) * std::numbers::pi;
      xs[size_t(2 * k)] = float(r * std::cos(a) + c.noise * nz[size_t(2 * k)]);
      xs[size_t(2 * k + 1)] = float(r * std::sin(a) + c.noise * nz[size_t(2 * k + 1)]);
      ys[size_t(k)] = cls;
    }
  return {Tensor::from_vector<float>(xs, Shape{N, 2}, c.device), Tensor::from_vector<int64_t>(ys, Shape{N}, c.device)};
}

// Mean negative log-likelihood under softmax(logits) of one-hot targets: -mean(sum(onehot * log_softmax(z), 1)).
inline Tensor cross_entropy_onehot(const Tensor& logits, const Tensor& onehot) {
  return neg(mean(sum(mul(onehot, log_softmax(logits, 1)), 1)));
}

inline double accuracy(const Tensor& logits, const Tensor& y) {
  auto pred = argmax(logits, 1).to_vector<int64_t>();
  auto lab = y.to_vector<int64_t>();
  int64_t ok = 0;
  for (size_t i = 0; i < pred.size(); ++i) ok += pred[i] == lab[i];
  return pred.empty() ? 0.0 : double(ok) / double(pred.size());
}

inline SpiralResult train_spiral(const SpiralConfig& c, std::ostream* log = nullptr) {
  Generator data_gen(c.seed, 1), init_gen(c.seed, 2), shuffle_gen(c.seed, 3);
  SpiralData d = make_spiral(c, data_gen);
  const int64_t N = d.x.size(0);
  Tensor onehot = one_hot(d.y, 2);  // (N, 2) f32: gathered per batch alongside x
  MLP model({2, 64, 64, 2}, init_gen);
  model.to(c.device);
  ParamGroup h;
  h.lr = c.lr;
  Adam opt(model.parameters(), h);
  // Per-iteration cosine schedule with one warm-up epoch, down to lr / 100: the last epochs settle.
  const int64_t steps_per_epoch = (N + c.batch - 1) / c.batch;
  CosineWarmupLR sched(opt, steps_per_epoch, std::max<int64_t>(int64_t(c.epochs) * steps_per_epoch, steps_per_epoch + 1),
                       c.lr / 100);
  SpiralResult res;
  for (int e = 0; e < c.epochs; ++e) {
    model.train();
    Tensor perm = randperm(N, shuffle_gen);
    if (!c.device.is_cpu()) perm = perm.to(c.device);
    double loss_sum = 0;
    int64_t seen = 0;
    for (int64_t b = 0; b < N; b += c.batch) {
      int64_t len = std::min(c.batch, N - b);
      Tensor idx = perm.narrow(b, len);
      Tensor xb = index_select(d.x, 0, idx), tb = index_select(onehot, 0, idx);
      opt.zero_grad();
      Tensor loss = cross_entropy_onehot(model(xb), tb);
      loss.backward();
      opt.step();
      sched.step();
      loss_sum += loss.item<float>() * double(len);
      seen += len;
    }
    res.final_loss = loss_sum / double(seen);
    model.eval();
    {
      NoGradGuard ng;
      res.train_accuracy = accuracy(model(d.x), d.y);
    }
    if (log)
      *log << "epoch " << (e + 1) << "/" << c.epochs << "  loss " << res.final_loss << "  train accuracy "
           << res.train_accuracy * 100.0 << "%\n";
  }
  return res;
}

}  // namespace leseg::examples
