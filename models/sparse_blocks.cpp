// SPDX-License-Identifier: Apache-2.0
#include "models/sparse_blocks.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/distributed/comm.h"
#include "engine/nn/batch_norm_relu.h"
#include "engine/nn/init.h"
#include "engine/ops/autocast.h"
#include "engine/ops/elementwise.h"
#include "kernels/batch_norm/batch_norm.h"

namespace leseg::models {

std::shared_ptr<SparseConv3d> make_sparse_conv(int64_t in, int64_t out, int kernel_size, int stride, bool transposed,
                                               ConvInit init, DType dtype, Generator& gen) {
  SparseConvSpec s;
  s.in = in;
  s.out = out;
  s.kernel_size = kernel_size;
  s.stride = stride;
  s.transposed = transposed;
  s.init = init;
  s.dtype = dtype;
  return std::make_shared<SparseConv3d>(s, gen);
}

SparseConv3d::SparseConv3d(const SparseConvSpec& spec, Generator& gen) : spec_(spec) {
  LESEG_CHECK(spec.in > 0 && spec.out > 0, "SparseConv3d: channels must be positive, got ", spec.in, " -> ", spec.out);
  LESEG_CHECK(spec.kernel_size >= 1 && spec.kernel_size <= 5, "SparseConv3d: kernel size ", spec.kernel_size,
              " not in 1..5");
  LESEG_CHECK(spec.stride == 1 || spec.stride == 2, "SparseConv3d: stride ", spec.stride, " (1 or 2)");
  LESEG_CHECK(!spec.transposed || spec.stride == 2, "SparseConv3d: a transposed conv needs stride 2");
  const int64_t V = int64_t(spec.kernel_size) * spec.kernel_size * spec.kernel_size;
  Tensor w = Tensor::zeros(Shape{V, spec.in, spec.out}, spec.dtype);
  if (spec.init == ConvInit::MinkowskiKaiming) {
    init::kaiming_normal_(w, gen, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu);
  } else if (spec.init == ConvInit::TorchsparseUniform) {
    const double b = 1.0 / std::sqrt(double(spec.in * V));
    init::uniform_(w, -b, b, gen);
  }
  kernel = register_parameter("kernel", w);
  if (spec.bias) {
    Tensor b = Tensor::zeros(Shape{spec.out}, spec.dtype);
    const double bound = 1.0 / std::sqrt(double(spec.in * V));
    if (spec.init != ConvInit::Zeros) init::uniform_(b, -bound, bound, gen);
    bias = register_parameter("bias", b);
  }
}

SparseTensor SparseConv3d::forward(const SparseTensor& x) {
  LESEG_CHECK(x.defined() && x.channels() == spec_.in, type_name(), ": expected ", spec_.in,
              " input channels, got ", x.defined() ? x.channels() : 0);
  SparseConvOptions o;
  o.kernel_size = spec_.kernel_size;
  o.stride = spec_.stride;
  o.transposed = spec_.transposed;
  o.variant = variant;
  // Autocast (train.precision bf16/f16) happens inside sparse_conv3d (engine/sparse/sparse_ops.cpp): features,
  // kernel and bias cast to autocast_dtype(), f32 accumulation, output stored in that dtype. The activations stay
  // in it up to the next conv: batch norm, ReLU, the residual add and the sparse structure ops (sparse_cat, pooling,
  // voxel <-> point transfers) all take bf16/f16.
  SparseTensor y = sparse_conv3d(x, kernel, bias, o);
  return y;
}

Tensor SparseBatchNorm::forward_feats(const Tensor& f) {
  if (!f.defined() || !is_half_dtype(f.dtype()) || !is_training() || f.ndim() != 2 || f.size(0) < 2 || !weight.defined() ||
      dist::sync_batch_norm_comm() != nullptr || !any_needs_grad({f, weight, bias}) ||
      weight.dtype() != DType::f32 || (bias.defined() && bias.dtype() != DType::f32))
    return BatchNorm1d::forward(f);
  const DType hd = f.dtype();
  Tensor y;
  {
    NoGradGuard ng;  // BatchNorm1d's own numbers and buffer updates; nothing of it is kept for the backward
    y = BatchNorm1d::forward(upcast(f)).to(hd);
  }
  const double e = eps;
  const Tensor w = weight;
  const bool want_w = needs_grad(weight), want_b = bias.defined() && needs_grad(bias), want_x = needs_grad(f);
  SavedTensor sx(f);
  return record("sparse_batch_norm", {f, weight, bias}, y, [sx, w, e, hd, want_x, want_w, want_b](const std::vector<Tensor>& g) {
    const Tensor& xh = sx.get("sparse_batch_norm");
    const Device d = xh.device();
    const int64_t N = xh.size(0), C = xh.size(1);
    // as the composite: the incoming gradient is rounded to the output's dtype, then widened
    const Tensor gf = (g[0].dtype() == hd ? g[0] : g[0].to(hd)).to(DType::f32);
    const Tensor xf = xh.to(DType::f32);
    Tensor mean = Tensor::empty(Shape{C}, DType::f32, d), var = Tensor::empty(Shape{C}, DType::f32, d);
    Tensor rstd = Tensor::empty(Shape{C}, DType::f32, d);
    Tensor dx = want_x ? Tensor::empty(Shape{N, C}, DType::f32, d) : Tensor();
    Tensor dw = want_w ? Tensor::empty(Shape{C}, DType::f32, d) : Tensor();
    Tensor db = want_b ? Tensor::empty(Shape{C}, DType::f32, d) : Tensor();
    float* pdx = want_x ? dx.data<float>() : nullptr;
    float* pdw = want_w ? dw.data<float>() : nullptr;
    float* pdb = want_b ? db.data<float>() : nullptr;
    LESEG_DISPATCH_DEVICE(
        d, "sparse_batch_norm",
        {
          kernels::batch_norm_stats_cpu<float>(xf.data<float>(), N, C, 1, mean.data<float>(), var.data<float>());
          kernels::batch_norm_finalize_cpu<float>(mean.data<float>(), var.data<float>(), C, N, e, 0.0, nullptr,
                                                  nullptr, rstd.data<float>());
          kernels::batch_norm_backward_cpu<float>(gf.data<float>(), xf.data<float>(), mean.data<float>(),
                                                  rstd.data<float>(), w.data<float>(), N, C, 1, true, pdx, pdw, pdb);
        },
        {
          Tensor ws = Tensor::empty(Shape{int64_t(std::max<size_t>(1, kernels::batch_norm_workspace_bytes(N, C, 1)))},
                                    DType::u8, d);
          kernels::batch_norm_stats_cuda<float>(xf.data<float>(), N, C, 1, mean.data<float>(), var.data<float>(),
                                                ws.data_ptr(), current_stream(d));
          kernels::batch_norm_finalize_cuda<float>(mean.data<float>(), var.data<float>(), C, N, e, 0.0, nullptr,
                                                   nullptr, rstd.data<float>(), current_stream(d));
          kernels::batch_norm_backward_cuda<float>(gf.data<float>(), xf.data<float>(), mean.data<float>(),
                                                   rstd.data<float>(), w.data<float>(), N, C, 1, true, pdx, pdw, pdb,
                                                   ws.data_ptr(), current_stream(d));
        });
    return std::vector<Tensor>{want_x ? dx.to(hd) : Tensor(), dw, db};
  });
}

BasicBlock::BasicBlock(const BlockSpec& s, Generator& gen) {
  auto conv = [&](int64_t in, int64_t out, int k) {
    return make_sparse_conv(in, out, k, 1, false, s.init, s.dtype, gen);
  };
  auto bn = [&](int64_t c) { return std::make_shared<SparseBatchNorm>(c, s.bn_momentum, s.dtype); };
  conv1_ = conv(s.in, s.out, 3);
  norm1_ = bn(s.out);
  conv2_ = conv(s.out, s.out, 3);
  norm2_ = bn(s.out);
  if (s.in != s.out) {
    ds_conv_ = conv(s.in, s.out, 1);
    ds_norm_ = bn(s.out);
  }
  if (s.names == BlockNames::Minkowski) {
    register_module("conv1", conv1_);
    register_module("norm1", norm1_);
    register_module("conv2", conv2_);
    register_module("norm2", norm2_);
    if (ds_conv_) register_module("downsample", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{ds_conv_, ds_norm_}));
  } else {
    register_module("net", std::make_shared<Sequential>(
                               std::vector<std::shared_ptr<Module>>{conv1_, norm1_, std::make_shared<ReLU>(), conv2_, norm2_}));
    if (ds_conv_) register_module("downsample", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{ds_conv_, ds_norm_}));
  }
}

SparseTensor SparseBatchNorm::forward_relu(const SparseTensor& x, const Tensor& residual) {
  const Tensor& f = x.feats();
  const bool sync = is_training() && dist::sync_batch_norm_comm() != nullptr;
  if (sync || !batch_norm_relu_fused(f) || (residual.defined() && residual.dtype() != f.dtype())) {
    const Tensor z = forward_feats(f);  // half features: the memory-saving half path above
    return x.with_feats(relu(residual.defined() ? add(z, residual) : z));
  }
  Tensor y = batch_norm_relu(f, running_mean, running_var, weight, bias, is_training(), momentum, eps, residual);
  if (is_training()) {  // as BatchNorm1d::forward (the fused path runs on CPU only)
    num_batches_tracked.data<int64_t>()[0] += 1;
    num_batches_tracked.bump_version();
  }
  return x.with_feats(y);
}

SparseTensor BasicBlock::forward(const SparseTensor& x) {
  SparseTensor h = norm1_->forward_relu((*conv1_)(x));
  h = (*conv2_)(h);
  const Tensor res = ds_conv_ ? (*ds_norm_)((*ds_conv_)(x)).feats() : x.feats();
  return norm2_->forward_relu(h, res);
}

void BlockSequence::push_back(std::shared_ptr<BasicBlock> b) {
  register_module(std::to_string(blocks_.size()), b);
  blocks_.push_back(std::move(b));
}

SparseTensor BlockSequence::forward(const SparseTensor& x) {
  SparseTensor h = x;
  for (auto& b : blocks_) h = (*b)(h);
  return h;
}

void set_conv_variant(Module& root, ConvVariant v) {
  if (auto* cv = dynamic_cast<SparseConv3d*>(&root)) cv->variant = v;
  for (auto& [_, child] : root.named_children()) set_conv_variant(*child, v);
}

int64_t parameter_count(const Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace leseg::models
