// SPDX-License-Identifier: Apache-2.0
#include "engine/nn/layers.h"

#include "kernels/counter/counter.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/distributed/sync_batch_norm.h"
#include "engine/nn/init.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/linalg.h"
#include "engine/ops/nn_functional.h"

namespace leseg {

Linear::Linear(int64_t in, int64_t out, bool use_bias, Generator& gen, DType dtype) : in_features(in), out_features(out) {
  LESEG_CHECK(in > 0 && out > 0, "Linear: in_features (", in, ") and out_features (", out, ") must be > 0");
  weight = register_parameter("weight", Tensor::empty(Shape{out, in}, dtype));
  init::kaiming_uniform_(weight, gen, std::sqrt(5.0));
  if (use_bias) {
    bias = register_parameter("bias", Tensor::empty(Shape{out}, dtype));
    double bound = 1.0 / std::sqrt(double(in));
    init::uniform_(bias, -bound, bound, gen);
  }
}
Tensor Linear::forward(const Tensor& x) {
  LESEG_CHECK(x.ndim() >= 1 && x.size(-1) == in_features, "Linear(", in_features, ", ", out_features, "): input ",
              x.str(), " must end with ", in_features);
  return linear(x, weight, bias);
}

LayerNorm::LayerNorm(int64_t dim, double eps_, bool affine, DType dtype) : eps(eps_) {
  LESEG_CHECK(dim > 0, "LayerNorm: dim ", dim, " must be > 0");
  if (affine) {
    weight = register_parameter("weight", Tensor::ones(Shape{dim}, dtype));
    bias = register_parameter("bias", Tensor::zeros(Shape{dim}, dtype));
  }
}
Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

BatchNorm1d::BatchNorm1d(int64_t c, double eps_, double momentum_, bool affine, DType dtype) : eps(eps_), momentum(momentum_) {
  LESEG_CHECK(c > 0, "BatchNorm1d: channels ", c, " must be > 0");
  if (affine) {
    weight = register_parameter("weight", Tensor::ones(Shape{c}, dtype));
    bias = register_parameter("bias", Tensor::zeros(Shape{c}, dtype));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros(Shape{c}, dtype));
  running_var = register_buffer("running_var", Tensor::ones(Shape{c}, dtype));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::scalar<int64_t>(0));
}
Tensor BatchNorm1d::forward(const Tensor& x) {
  // Synchronised BatchNorm (engine/distributed/sync_batch_norm.h) while a SyncBatchNormScope is active.
  dist::Communicator* sync = is_training() ? dist::sync_batch_norm_comm() : nullptr;
  Tensor y = sync ? dist::sync_batch_norm(*sync, x, running_mean, running_var, weight, bias, momentum, eps)
                  : batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
  if (is_training()) {
    // Incremented on its device: no host read inside the training step (engine/host_sync.h), and a captured CUDA
    // graph increments it on every replay (a host mirror would bake one value into the graph).
    const Device d = num_batches_tracked.device();
    int64_t* p = num_batches_tracked.data<int64_t>();
    LESEG_DISPATCH_DEVICE(d, "batch_norm", kernels::increment_i64_cpu(p, 1),
                          kernels::increment_i64_cuda(p, 1, current_stream(d)));
    num_batches_tracked.bump_version();
  }
  return y;
}

Dropout::Dropout(double p_, Generator* gen) : p(p_), gen_(gen) {
  LESEG_CHECK(p_ >= 0 && p_ <= 1, "Dropout: p ", p_, " outside [0, 1]");
}
Tensor Dropout::forward(const Tensor& x) {
  return gen_ ? dropout(x, p, is_training(), *gen_) : dropout(x, p, is_training());
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_tanh); }

Sequential::Sequential(std::vector<std::shared_ptr<Module>> layers) {
  for (auto& l : layers) push_back(std::move(l));
}
void Sequential::push_back(std::shared_ptr<Module> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
}
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& l : layers_) h = l->forward(h);
  return h;
}

MLP::MLP(const std::vector<int64_t>& dims, Generator& gen, const MLPOptions& o, Generator* dropout_gen) {
  LESEG_CHECK(dims.size() >= 2, "MLP: need at least {in, out} dims, got ", dims.size());
  for (size_t i = 0; i + 1 < dims.size(); ++i) {
    push_back(std::make_shared<Linear>(dims[i], dims[i + 1], o.bias, gen, o.dtype));
    if (i + 2 == dims.size()) break;
    if (o.norm == Norm::layer_norm) push_back(std::make_shared<LayerNorm>(dims[i + 1], 1e-5, true, o.dtype));
    if (o.norm == Norm::batch_norm) push_back(std::make_shared<BatchNorm1d>(dims[i + 1], 1e-5, 0.1, true, o.dtype));
    if (o.activation == Activation::relu)
      push_back(std::make_shared<ReLU>());
    else
      push_back(std::make_shared<GELU>());
    if (o.dropout > 0) push_back(std::make_shared<Dropout>(o.dropout, dropout_gen));
  }
}

}  // namespace leseg
