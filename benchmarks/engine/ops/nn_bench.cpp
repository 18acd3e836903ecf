// SPDX-License-Identifier: Apache-2.0
// Bandwidth of the row / channel kernels (bytes = reads + writes of the tensors touched, f32):
// softmax (last dim 20 and 1000), layer_norm forward / backward, batch_norm train forward + backward on
// (1M, 32) point features, index_select / scatter-add rows. CPU always; CUDA when a device answers.
#include <benchmark/benchmark.h>

#include "engine/autograd.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/shape_ops.h"
#include "engine/rng.h"

namespace {
using namespace leseg;

void BM_softmax(benchmark::State& st, Device d, int64_t R, int64_t D) {
  Generator g(1);
  Tensor x = randn(Shape{R, D}, g, DType::f32, d);
  for (auto _ : st) {
    Tensor y = softmax(x, -1);
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * R * D * 4 * 2);
}

void BM_layer_norm_fwd_bwd(benchmark::State& st, Device d, int64_t R, int64_t D) {
  Generator g(2);
  Tensor x = randn(Shape{R, D}, g, DType::f32, d), w = randn(Shape{D}, g, DType::f32, d), b = randn(Shape{D}, g, DType::f32, d);
  Tensor gy = randn(Shape{R, D}, g, DType::f32, d);
  x.requires_grad_(), w.requires_grad_(), b.requires_grad_();
  for (auto _ : st) {
    Tensor y = layer_norm(x, w, b);
    y.backward(gy);
    x.zero_grad(), w.zero_grad(), b.zero_grad();
    synchronize(d);
  }
  // forward: read x, write y; backward: read g, x, write dx (+ dw/db column sums reread g, x)
  st.SetBytesProcessed(int64_t(st.iterations()) * R * D * 4 * 7);
}

void BM_layer_norm_fwd(benchmark::State& st, Device d, int64_t R, int64_t D) {
  Generator g(2);
  Tensor x = randn(Shape{R, D}, g, DType::f32, d), w = randn(Shape{D}, g, DType::f32, d), b = randn(Shape{D}, g, DType::f32, d);
  for (auto _ : st) {
    Tensor y = layer_norm(x, w, b);
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * R * D * 4 * 2);
}

void BM_batch_norm_train_fwd_bwd(benchmark::State& st, Device d, int64_t N, int64_t C) {
  Generator g(3);
  Tensor x = randn(Shape{N, C}, g, DType::f32, d), w = randn(Shape{C}, g, DType::f32, d), b = randn(Shape{C}, g, DType::f32, d);
  Tensor rm = Tensor::zeros(Shape{C}, DType::f32, d), rv = Tensor::ones(Shape{C}, DType::f32, d);
  Tensor gy = randn(Shape{N, C}, g, DType::f32, d);
  x.requires_grad_(), w.requires_grad_(), b.requires_grad_();
  for (auto _ : st) {
    Tensor y = batch_norm(x, rm, rv, w, b, true);
    y.backward(gy);
    x.zero_grad(), w.zero_grad(), b.zero_grad();
    synchronize(d);
  }
  // forward: 2 stat passes + apply (read x ×3, write y); backward: sums (read g, x) + dx (read g, x, write dx)
  st.SetBytesProcessed(int64_t(st.iterations()) * N * C * 4 * 9);
}

void BM_index_select_scatter(benchmark::State& st, Device d, int64_t R, int64_t n, int64_t D) {
  Generator g(4);
  Tensor x = randn(Shape{R, D}, g, DType::f32, d);
  Tensor u = rand(Shape{n}, g, DType::f64);
  std::vector<int64_t> iv(static_cast<size_t>(n));
  auto uv = u.to_vector<double>();
  for (int64_t i = 0; i < n; ++i) iv[size_t(i)] = std::min<int64_t>(R - 1, int64_t(uv[size_t(i)] * double(R)));
  Tensor idx = Tensor::from_vector(iv, Shape{n}, d);
  Tensor gy = randn(Shape{n, D}, g, DType::f32, d);
  x.requires_grad_();
  for (auto _ : st) {
    Tensor y = index_select(x, 0, idx);
    y.backward(gy);
    x.zero_grad();
    synchronize(d);
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * n * D * 4 * 4);
}

void register_all(Device d, const std::string& tag) {
  auto reg = [](const std::string& name, auto fn, auto... args) {
    benchmark::RegisterBenchmark(name.c_str(), fn, args...)->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  reg("softmax/" + tag + "/1Mx20", BM_softmax, d, int64_t(1000000), int64_t(20));
  reg("softmax/" + tag + "/20kx1000", BM_softmax, d, int64_t(20000), int64_t(1000));
  reg("layer_norm_fwd/" + tag + "/1Mx32", BM_layer_norm_fwd, d, int64_t(1000000), int64_t(32));
  reg("layer_norm_fwd_bwd/" + tag + "/200kx96", BM_layer_norm_fwd_bwd, d, int64_t(200000), int64_t(96));
  reg("batch_norm_train_fwd_bwd/" + tag + "/1Mx32", BM_batch_norm_train_fwd_bwd, d, int64_t(1000000), int64_t(32));
  reg("index_select_scatter/" + tag + "/200k_of_50kx32", BM_index_select_scatter, d, int64_t(50000), int64_t(200000),
      int64_t(32));
}

const int registered = [] {
  register_all(Device::cpu(), "cpu");
  if (cuda_available()) register_all(Device::cuda(), "cuda");
  return 0;
}();
}  // namespace
