// SPDX-License-Identifier: Apache-2.0
// Fused multi-head attention over packed variable-length sequences (FlashAttention-2 style), forward and
// backward. defines: attention_forward_cpu/_cuda, attention_backward_cpu/_cuda,
// attention_backward_workspace_bytes, attn_stat_t.
//   T (storage of q, k, v, key_bias, o, dO and the gradients): float, f16_t, bf16_t (CPU and CUDA), double
//   (CPU only). Half inputs are converted per element (leseg::Convert, kernels/common/half_math.h) and
//   computed exactly like f32 ones; outputs and gradients are rounded back to T. The saved logsumexp is
//   attn_stat_t<T> (f32 for halves: a bf16 logsumexp would put ~0.4% errors into every recomputed P).
//   I: int32_t, int64_t
//
// Layout (row-major, packed):
//   q  (Tq, H, D)   k, v (Tk, H, D)   o (Tq, H, D)   lse (Tq, H) of attn_stat_t<T>
//   cu_q (B+1), cu_k (B+1): cumulative offsets; sequence b owns query rows [cu_q[b], cu_q[b+1]) and key rows
//   [cu_k[b], cu_k[b+1]). Self-attention: cu_q == cu_k and q, k, v from the same rows; cross-attention:
//   anything else (20 class queries over 100k pixels). Pointers to cu_* live on the kernel's device.
//   key_mask (Tk) u8, optional: 1 = key masked out (for every head).
//   key_bias (Tk, H), optional: additive logit bias per (key, head). Chosen over a dense (H, Tq, Tk) bias
//   because that is quadratic in memory (100k pixels x 20 queries x 8 heads is fine, 8192^2 x 8 is not) and
//   because every use we have (soft key priors, log-weights of text embeddings, a learnable per-key
//   offset) is per key; its gradient is a column sum of dS, computed race-free in the dK/dV pass.
//
// Maths for one (sequence, head), query i and key j (masked keys excluded from every sum):
//   s_ij = scale * <q_i, k_j> + bias_j          m_i = max_j s_ij      l_i = sum_j exp(s_ij - m_i)
//   L_i  = m_i + log l_i  (logsumexp, saved)     P_ij = exp(s_ij - L_i) o_i = sum_j P_ij v_j
//   A row with no unmasked key gets o_i = 0 and L_i = +inf, so every recomputed P_ij is exactly 0 and
//   all its gradients are 0 (never NaN).
// Gradient (FlashAttention-2):
//   dV_j = sum_i P_ij dO_i                      dP_ij = <dO_i, v_j>
//   D_i  = <dO_i, o_i> = sum_j P_ij dP_ij      dS_ij = P_ij (dP_ij - D_i)     (softmax Jacobian)
//   dQ_i = scale * sum_j dS_ij k_j              dK_j = scale * sum_i dS_ij q_i   dBias_j = sum_i dS_ij
//
// Forward keeps a running max m and sum l per query while it walks key tiles (online softmax), so the full
// score matrix is never built. Backward recomputes P from q, k and L.
// CPU twin: OpenMP over (sequence, head, query tile) for the forward and over (sequence, head) for the
//   backward (one walk over key tiles x query tiles recomputes each P tile once for dQ, dK, dV and dBias):
//   every output row is written by one thread (no races, deterministic). Tiles are held in the
//   tile type (f32 for f32/f16/bf16 inputs, f64 for f64): the tile products are Eigen GEMMs and exp() is
//   Eigen's vectorised one in that type; the running softmax sum l and D_i are double. Per-thread tile
//   scratch is host memory owned by the call.
// CUDA: head dims 16/32/64/128 (template-specialised), f32/f16/bf16 storage with f32 arithmetic and
//   accumulation (one kernel template per storage type); K/V (or Q/dO) tiles in
//   shared memory; dK/dV/dBias by one block per key tile looping over queries, dQ by one block per query
//   tile looping over keys: no atomics, deterministic. Workspace: attention_backward_workspace_bytes.
#pragma once
#include <cstdint>

#include "kernels/common/half_math.h"
#include "kernels/common/hd.h"

namespace leseg::kernels {

template <class T> struct attn_stat { using type = T; };
template <> struct attn_stat<f16_t> { using type = float; };
template <> struct attn_stat<bf16_t> { using type = float; };
// Type of the saved logsumexp for inputs stored as T: T for f32/f64, float for f16/bf16.
template <class T> using attn_stat_t = typename attn_stat<T>::type;

struct AttentionDims {
  int64_t batch = 0;     // B
  int64_t heads = 0;     // H
  int64_t dim = 0;       // D
  int64_t tq = 0;        // Tq (total query rows)
  int64_t tk = 0;        // Tk (total key rows)
  int64_t max_lq = 0;    // max_b (cu_q[b+1] - cu_q[b]); sizes the CUDA grid
  int64_t max_lk = 0;    // max_b (cu_k[b+1] - cu_k[b])
  double scale = 1.0;    // logit scale (usually 1/sqrt(D))
  // CPU twin of the tensor-core variant (half T only): round P to T before P V and P^T dO, and dS to T
  // before dS K and dS^T Q, as the mma operands are rounded (the softmax sum l and dBias use the unrounded
  // f32 values, as the kernel does). No effect for f32/f64.
  bool round_products = false;
};

// Forward: writes o (Tq, H, D) and lse (Tq, H). key_mask / key_bias may be null.
template <class T, class I>
void attention_forward_cpu(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                           const T* key_bias, const AttentionDims& d, T* o, attn_stat_t<T>* lse);
template <class T, class I>
void attention_forward_cuda(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                            const T* key_bias, const AttentionDims& d, T* o, attn_stat_t<T>* lse, StreamHandle s);

// Bytes of scratch the backward needs: D_i per (query, head), held as double on CPU and float on CUDA
// (the query returns the larger, so one call serves both devices).
template <class T>
int64_t attention_backward_workspace_bytes(const AttentionDims& d) {
  return d.tq * d.heads * int64_t(sizeof(double));
}

// Backward: from dO (Tq, H, D) and the forward's o and lse, writes (overwrites) dq (Tq, H, D), dk, dv (Tk, H, D)
// and, when dbias is not null, dbias (Tk, H). Masked keys get zero gradients.
// workspace: attention_backward_workspace_bytes<T>(d) bytes on the kernel's device.
template <class T, class I>
void attention_backward_cpu(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                            const T* key_bias, const T* o, const attn_stat_t<T>* lse, const T* dout,
                            const AttentionDims& d, T* dq, T* dk, T* dv, T* dbias, void* workspace);
template <class T, class I>
void attention_backward_cuda(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                             const T* key_bias, const T* o, const attn_stat_t<T>* lse, const T* dout,
                             const AttentionDims& d, T* dq, T* dk, T* dv, T* dbias, void* workspace, StreamHandle s);

// ---- tensor-core variant (attention_tc_cuda.cu; sm_80+, T = f16_t or bf16_t) ----
// FlashAttention-2 on mma.sync.m16n8k16 with f32 accumulation, any head dim 1..128 (padded to 16/32/64/96/
// 128 inside the kernel), split-KV with a deterministic combine, dQ by a separate pass (no atomics).
// `table` is the device copy of attn_tc::build_tc_schedule's table (attention_tc_math.h), which also holds
// the int32 offsets: the kernels never read the caller's offsets. Its CPU twin is the CPU path above with
// round_products = true.
struct AttentionTcSchedule {
  const int32_t* table = nullptr;  // device
  int64_t query_blocks = 0, key_blocks = 0, partial_rows = 0;
};
int64_t attention_tc_forward_workspace_bytes(const AttentionDims& d, const AttentionTcSchedule& s);
int64_t attention_tc_backward_workspace_bytes(const AttentionDims& d, const AttentionTcSchedule& s);
template <class T>
void attention_tc_forward_cuda(const T* q, const T* k, const T* v, const AttentionTcSchedule& sched,
                               const uint8_t* key_mask, const T* key_bias, const AttentionDims& d, T* o, float* lse,
                               void* workspace, StreamHandle s);
template <class T>
void attention_tc_backward_cuda(const T* q, const T* k, const T* v, const AttentionTcSchedule& sched,
                                const uint8_t* key_mask, const T* key_bias, const T* o, const float* lse,
                                const T* dout, const AttentionDims& d, T* dq, T* dk, T* dv, T* dbias, void* workspace,
                                StreamHandle s);
// Whether this process's current device can run the tensor-core variant (compute capability >= 8.0).
bool attention_tc_device_ok();
// Block target of the split-KV decision for the current device: 2 x its multiprocessor count.
int64_t attention_tc_target_blocks();

// Head dims the CUDA kernels are specialised for (the CPU twin takes any D >= 1).
LESEG_HD bool attention_cuda_supports_dim(int64_t dim) { return dim == 16 || dim == 32 || dim == 64 || dim == 128; }

}  // namespace leseg::kernels
