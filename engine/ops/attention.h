// SPDX-License-Identifier: Apache-2.0
// Fused multi-head attention over packed variable-length sequences (kernels/attention). Differentiable in
// q, k, v and the optional per-key bias.
//   q (Tq, H, D), k and v (Tk, H, D); cu_q, cu_k (B+1) cumulative offsets (i32 or i64, any device; they are
//   read on the host to validate them and size the launch). Sequence b attends its queries
//   [cu_q[b], cu_q[b+1]) to its keys [cu_k[b], cu_k[b+1]). Output (Tq, H, D).
// Self-attention: pass the same offsets twice. Cross-attention (class queries over points): any offsets
// with the same B. A query row whose sequence has no unmasked key gets output 0 and zero gradients.
// f32, f64, f16 and bf16 on CPU (any D); f32, f16 and bf16 on CUDA with D in {16, 32, 64, 128}. Half inputs
// are computed in f32 (f64 accumulations on CPU where the f32 path has them); output and gradients come back
// in the input dtype.
#pragma once
#include "engine/tensor.h"

namespace leseg {

struct AttentionOptions {
  double scale = 0.0;  // logit scale; 0 means 1/sqrt(D)
  Tensor key_mask;     // optional (Tk,) u8 or bool: 1 = key masked out (for every head); not differentiable
  Tensor key_bias;     // optional (Tk, H) additive logit bias per key and head; differentiable
};

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_q, const Tensor& cu_k,
                 const AttentionOptions& opts = {});

// Reshape helpers: (T, H*D) <-> (T, H, D) (views, differentiable).
Tensor split_heads(const Tensor& x, int64_t heads);
Tensor merge_heads(const Tensor& x);

// Attention on projections laid out (T, H*D): splits heads, runs attention, merges heads -> (Tq, H*D).
Tensor multi_head_attention(const Tensor& q_proj, const Tensor& k_proj, const Tensor& v_proj, const Tensor& cu_q,
                            const Tensor& cu_k, int64_t heads, const AttentionOptions& opts = {});

}  // namespace leseg
