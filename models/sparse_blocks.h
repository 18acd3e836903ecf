// SPDX-License-Identifier: Apache-2.0
// Sparse building blocks shared by the 3D backbones (MinkowskiEngine / torchsparse layouts):
//   SparseConv3d   weight "kernel" (K^3, C_in, C_out) in engine/sparse's offset order, optional "bias"; stride 1
//                  (submanifold), stride 2 (down), or transposed stride 2 (up, reusing the cached down map).
//   SparseBatchNorm  BatchNorm1d over the features (N, C) of a SparseTensor (PyTorch momentum convention).
//   BasicBlock     ME ResNet BasicBlock: conv3-BN-ReLU-conv3-BN + residual, ReLU; the residual goes through a
//                  1x1 conv + BN ("downsample") when the channel count changes. Also torchsparse's ResidualBlock,
//                  which has the same layout (only the child names differ: see BlockNames).
// Initialisation: weights from a Generator (ME: kaiming_normal fan_out/relu on the (V, C_in, C_out) kernel, which
// is what torch computes for that tensor; torchsparse: U(±1/sqrt(C_in K^3))); BN weight 1, bias 0.
#pragma once
#include <memory>
#include <string>

#include "engine/nn/layers.h"
#include "engine/nn/module.h"
#include "engine/ops/elementwise.h"
#include "engine/rng.h"
#include "engine/sparse/sparse_ops.h"
#include "engine/sparse/sparse_tensor.h"

namespace leseg::models {

// Zeros: no random draw (the weights are about to be loaded, or only the shapes matter: `model info`).
enum class ConvInit { MinkowskiKaiming, TorchsparseUniform, Zeros };

struct SparseConvSpec {
  int64_t in = 0, out = 0;
  int kernel_size = 3;
  int stride = 1;
  bool transposed = false;
  bool bias = false;
  ConvInit init = ConvInit::MinkowskiKaiming;
  DType dtype = DType::f32;
};

class SparseConv3d : public Module {
 public:
  SparseConv3d(const SparseConvSpec& spec, Generator& gen);
  std::string type_name() const override { return spec_.transposed ? "SparseConvTranspose3d" : "SparseConv3d"; }
  using Module::forward;
  SparseTensor forward(const SparseTensor& x);
  SparseTensor operator()(const SparseTensor& x) { return forward(x); }
  const SparseConvSpec& spec() const { return spec_; }
  // The conv variant used on CUDA (CPU always runs its twin).
  ConvVariant variant = ConvVariant::GatherGemmScatter;
  Tensor kernel, bias;  // (K^3, C_in, C_out), (C_out) or undefined

 private:
  SparseConvSpec spec_;
};

// A bias-free conv of a network, its weights drawn from `gen` by `init` (the backbones' one constructor call).
std::shared_ptr<SparseConv3d> make_sparse_conv(int64_t in, int64_t out, int kernel_size, int stride, bool transposed,
                                               ConvInit init, DType dtype, Generator& gen);

class SparseBatchNorm : public BatchNorm1d {
 public:
  SparseBatchNorm(int64_t channels, double momentum, DType dtype) : BatchNorm1d(channels, 1e-5, momentum, true, dtype) {}
  std::string type_name() const override { return "SparseBatchNorm"; }
  using BatchNorm1d::forward;
  // bf16/f16 features in training: the numbers of BatchNorm1d (statistics, running buffers and the affine map in
  // f32, the output rounded once to the features' dtype; the same bits), but only the half input is kept for the
  // backward, which recomputes the batch statistics from it (the generic half batch_norm keeps an f32 copy of its
  // input: twice the bytes of the activation). Other dtypes, eval mode and synchronised BN: BatchNorm1d.
  SparseTensor forward(const SparseTensor& x) { return x.with_feats(forward_feats(x.feats())); }
  Tensor forward_feats(const Tensor& f);
  SparseTensor operator()(const SparseTensor& x) { return forward(x); }
  // relu(bn(x) [+ residual]): one fused op on CPU (engine/nn/batch_norm_relu.h), else the composition.
  SparseTensor forward_relu(const SparseTensor& x, const Tensor& residual = Tensor());
};

inline SparseTensor sparse_relu(const SparseTensor& x) { return x.with_feats(relu(x.feats())); }

// Child names of a residual block: ME ("conv1", "norm1", "conv2", "norm2", "downsample") or torchsparse
// ("net" = Sequential{conv, bn, relu, conv, bn}, "downsample" = Sequential{conv, bn}).
enum class BlockNames { Minkowski, Torchsparse };

struct BlockSpec {
  int64_t in = 0, out = 0;
  double bn_momentum = 0.1;
  ConvInit init = ConvInit::MinkowskiKaiming;
  BlockNames names = BlockNames::Minkowski;
  DType dtype = DType::f32;
};

class BasicBlock : public Module {
 public:
  BasicBlock(const BlockSpec& spec, Generator& gen);
  std::string type_name() const override { return "BasicBlock"; }
  using Module::forward;
  SparseTensor forward(const SparseTensor& x);
  SparseTensor operator()(const SparseTensor& x) { return forward(x); }
  bool has_downsample() const { return ds_conv_ != nullptr; }

 private:
  std::shared_ptr<SparseConv3d> conv1_, conv2_, ds_conv_;
  std::shared_ptr<SparseBatchNorm> norm1_, norm2_, ds_norm_;
};

// A named list of blocks applied in order (ME's nn.Sequential of blocks: children "0", "1", ...).
class BlockSequence : public Module {
 public:
  std::string type_name() const override { return "BlockSequence"; }
  void push_back(std::shared_ptr<BasicBlock> b);
  using Module::forward;
  SparseTensor forward(const SparseTensor& x);
  SparseTensor operator()(const SparseTensor& x) { return forward(x); }
  size_t size() const { return blocks_.size(); }

 private:
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
};

// A module that only holds named children (for parameter names such as "stem.0.kernel"); it has no forward.
class Container : public Module {
 public:
  std::string type_name() const override { return "Container"; }
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) { return register_module(name, std::move(m)); }
};

// Sets the CUDA conv variant of every SparseConv3d under `root`.
void set_conv_variant(Module& root, ConvVariant v);

// Sum of the element counts of every parameter (buffers excluded), as torch's sum(p.numel()).
int64_t parameter_count(const Module& m);

}  // namespace leseg::models
