// SPDX-License-Identifier: Apache-2.0
// Standard layers as Modules over the engine ops (engine/ops/linalg.h, nn_functional.h, elementwise.h).
// Parameter names and initialisation follow PyTorch so state dicts map one to one:
//   Linear(in, out):  weight (out, in) ~ kaiming_uniform(a = sqrt 5) = U(±1/sqrt(in)), bias (out) ~ U(±1/sqrt(in))
//   LayerNorm(D):     weight = 1, bias = 0 (D)
//   BatchNorm1d(C):   weight = 1, bias = 0; buffers running_mean = 0, running_var = 1 (C),
//                     num_batches_tracked (i64 scalar); momentum 0.1, eps 1e-5
//   Sequential:       children named "0", "1", ...;  MLP(dims) = Sequential of Linear [+ norm] + act [+ dropout]
#pragma once
#include <memory>
#include <vector>

#include "engine/nn/module.h"
#include "engine/rng.h"

namespace leseg {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Generator& gen, DType dtype = DType::f32);
  std::string type_name() const override { return "Linear"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // (out, in), (out) or undefined
  int64_t in_features, out_features;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool affine = true, DType dtype = DType::f32);
  std::string type_name() const override { return "LayerNorm"; }
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  double eps;
};

class BatchNorm1d : public Module {
 public:
  explicit BatchNorm1d(int64_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       DType dtype = DType::f32);
  std::string type_name() const override { return "BatchNorm1d"; }
  // x (N, C) or (N, C, L). Training: batch statistics, running stats updated, num_batches_tracked += 1.
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;

 private:
  int64_t tracked_ = 0;
  uint64_t tracked_version_ = ~uint64_t(0);
  const void* tracked_storage_ = nullptr;
};

class Dropout : public Module {
 public:
  // gen: the generator drawing the masks (must outlive the module); nullptr = default_generator().
  explicit Dropout(double p, Generator* gen = nullptr);
  std::string type_name() const override { return "Dropout"; }
  Tensor forward(const Tensor& x) override;
  double p;

 private:
  Generator* gen_;
};

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
  Tensor forward(const Tensor& x) override;
};

class GELU : public Module {
 public:
  explicit GELU(bool approximate_tanh = false) : approximate_tanh(approximate_tanh) {}
  std::string type_name() const override { return "GELU"; }
  Tensor forward(const Tensor& x) override;
  bool approximate_tanh;
};

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers);
  std::string type_name() const override { return "Sequential"; }
  void push_back(std::shared_ptr<Module> m);
  size_t size() const { return layers_.size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return layers_.at(i); }
  Tensor forward(const Tensor& x) override;

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

enum class Activation { relu, gelu };
enum class Norm { none, layer_norm, batch_norm };

struct MLPOptions {
  Activation activation = Activation::relu;
  Norm norm = Norm::none;
  double dropout = 0.0;
  bool bias = true;
  DType dtype = DType::f32;
};

// dims = {in, h1, ..., out}: Linear(in, h1) [norm] act [dropout] ... Linear(h_last, out) (no act on the output).
class MLP : public Sequential {
 public:
  MLP(const std::vector<int64_t>& dims, Generator& gen, const MLPOptions& opts = {}, Generator* dropout_gen = nullptr);
  std::string type_name() const override { return "MLP"; }
};

}  // namespace leseg
