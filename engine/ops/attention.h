// SPDX-License-Identifier: Apache-2.0
// Fused multi-head attention over packed variable-length sequences (kernels/attention). Differentiable in
// q, k, v and the optional per-key bias.
//   q (Tq, H, D), k and v (Tk, H, D); cu_q, cu_k (B+1) cumulative offsets (i32 or i64, any device). They are
//   validated and turned into a launch schedule once per offsets tensor (keyed by its storage and version,
//   so an in-place write invalidates it) and cached: repeated calls with the same offsets (every layer of a
//   step, forward and backward) copy nothing to the host. Sequence b attends its queries
//   [cu_q[b], cu_q[b+1]) to its keys [cu_k[b], cu_k[b+1]). Output (Tq, H, D).
// Self-attention: pass the same offsets twice. Cross-attention (class queries over points): any offsets
// with the same B. A query row whose sequence has no unmasked key gets output 0 and zero gradients.
// Variants (AttentionOptions::variant):
//   reference     the scalar f32-arithmetic kernel (f32, f16, bf16 on CUDA; D in {16, 32, 64, 128} natively, other
//                 D <= 128 zero-padded to the next of those by the op) and
//                 the CPU twin (f32, f64, f16, bf16, any D).
//   tensor_core   FlashAttention-2 on mma.sync bf16/f16 (CUDA sm_80+, f16/bf16, any D in 1..128); on CPU the
//                 twin with P and dS rounded to the input dtype before their products, as the mma operands are.
//   automatic     tensor_core for f16/bf16 inputs (on CUDA when the device is sm_80+, else reference), reference
//                 for f32/f64.
// Autocast (engine/precision.h): under train.precision bf16/f16, f32 inputs (q, k, v, key_bias) are cast to
// autocast_dtype() (differentiably) and the output is returned in that dtype, as PyTorch's autocast does for
// scaled_dot_product_attention. Output and gradients come back in the computing dtype.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace leseg {

enum class AttentionVariant { automatic, reference, tensor_core };

struct AttentionOptions {
  double scale = 0.0;  // logit scale; 0 means 1/sqrt(D)
  AttentionVariant variant = AttentionVariant::automatic;
  Tensor key_mask;     // optional (Tk,) u8 or bool: 1 = key masked out (for every head); not differentiable
  Tensor key_bias;     // optional (Tk, H) additive logit bias per key and head; differentiable
};

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_q, const Tensor& cu_k,
                 const AttentionOptions& opts = {});

// The variant `attention` would run for these inputs (after autocast) on their device.
AttentionVariant attention_variant_for(DType dtype, Device dev, AttentionVariant requested = AttentionVariant::automatic);

// Schedule cache (tests, diagnostics): hits / misses since the last clear; entries hold the offsets tensors
// (so a cached storage address cannot be reused by another tensor while it is a key).
struct AttentionScheduleCacheStats {
  int64_t hits = 0, misses = 0, entries = 0;
};
AttentionScheduleCacheStats attention_schedule_cache_stats();
void attention_schedule_cache_clear();

// Offsets the caller has on the host (sequence sizes a regime computed there): a (B+1) i64 tensor on `dev` holding
// `host`, remembered with its host values (most recent 64), so that attention() validates and schedules from those
// values and reads nothing back from the device when it first meets the tensor. A step whose set sizes change every
// batch stays free of host synchronisations. An in-place write to the tensor drops the host values (version check).
Tensor attention_offsets(const std::vector<int64_t>& host, Device dev);

// Reshape helpers: (T, H*D) <-> (T, H, D) (views, differentiable).
Tensor split_heads(const Tensor& x, int64_t heads);
Tensor merge_heads(const Tensor& x);

// Attention on projections laid out (T, H*D): splits heads, runs attention, merges heads -> (Tq, H*D).
Tensor multi_head_attention(const Tensor& q_proj, const Tensor& k_proj, const Tensor& v_proj, const Tensor& cu_q,
                            const Tensor& cu_k, int64_t heads, const AttentionOptions& opts = {});

}  // namespace leseg
