// SPDX-License-Identifier: Apache-2.0
// Tensor-core fused attention (FlashAttention-2) for f16 / bf16 storage on sm_80+: inline-PTX
// mma.sync.aligned.m16n8k16 with f32 accumulation. Its CPU twin is attention_cpu.cpp with
// AttentionDims::round_products (P and dS rounded to T before their products, as the mma operands are).
// Index maths (fragment maps, block -> (set, tile, split) schedule, split combine) live in
// attention_tc_math.h and are tested on the CPU; this file only moves data and calls them.
//   forward  grid (query blocks, H), 4 warps x 16 query rows; K/V tiles of 64 keys in shared memory; online
//            softmax in registers; P goes from the S accumulators straight into A fragments (rounded to T).
//            A set split over its keys (few queries, many keys) writes per-split records [m, l, acc] and a
//            combine kernel folds them in split order (deterministic).
//   backward D_i = <dO_i, o_i>; dK/dV/dBias: grid (key blocks, H), 4 warps x 16 keys, Q/dO tiles streamed,
//            every key row owned by one warp (no atomics); dQ: a separate pass with the forward's schedule,
//            split sets write per-split dQ partials summed in split order by a combine kernel. The dQ pass
//            recomputes S and dP once more than FlashAttention-2's atomic dQ does: the price of determinism.
// Head dims 1..128 are padded to DP in {16, 32, 64, 96, 128}: zero columns add nothing to the dot products,
// padded output columns are not stored. Shared-memory rows are DP + 8 halves (16 bytes of skew against bank
// conflicts). Not done: ldmatrix / cp.async pipelining, register-resident K/V in the dK/dV pass; the
// fragments are gathered from shared memory with the maps of attention_tc_math.h.
#include "kernels/common/check.h"
#include "kernels/common/cuda_utils.cuh"
// The kernels are in attention_tc_kernels.cuh (shared with the CPU warp emulator's test).
#include "kernels/attention/attention_tc_kernels.cuh"

namespace leseg::kernels {
namespace {

using namespace attn_tc;

void check_tc(const AttentionDims& d, const AttentionTcSchedule& s) {
  LESEG_KCHECK(attn_tc::supports_dim(d.dim), "attention (tensor cores): head dim ", d.dim, " not in 1..128");
  LESEG_KCHECK(d.heads >= 1 && d.heads <= 65535, "attention (tensor cores): heads ", d.heads, " not in 1..65535");
  LESEG_KCHECK(s.table || d.batch == 0, "attention (tensor cores): null schedule");
  LESEG_KCHECK(s.query_blocks <= 2147483647LL && s.key_blocks <= 2147483647LL, "attention (tensor cores): grid too large");
  LESEG_KCHECK(attention_tc_device_ok(), "attention (tensor cores): the device is below sm_80 (mma.sync bf16/f16)");
}

template <int DP>
constexpr int tc_dyn_smem() { return (2 * kBQ + 2 * kBK) * (DP + 8) * int(sizeof(uint16_t)); }
static_assert(kBQ == kBKeys && kBK == kBQs, "the two backward kernels share one shared-memory size");

}  // namespace

bool attention_tc_device_ok() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) return false;
  return major >= 8;
}

int64_t attention_tc_target_blocks() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 264;
  return 2 * int64_t(sms);
}

int64_t attention_tc_forward_workspace_bytes(const AttentionDims& d, const AttentionTcSchedule& s) {
  return s.partial_rows * d.heads * record_floats(padded_dim(d.dim)) * int64_t(sizeof(float));
}
int64_t attention_tc_backward_workspace_bytes(const AttentionDims& d, const AttentionTcSchedule& s) {
  return (d.tq * d.heads + s.partial_rows * d.heads * padded_dim(d.dim)) * int64_t(sizeof(float));
}

#define LESEG_TC_DIMS(X) X(16) X(32) X(64) X(96) X(128)

template <class T>
void attention_tc_forward_cuda(const T* q, const T* k, const T* v, const AttentionTcSchedule& sched,
                               const uint8_t* key_mask, const T* key_bias, const AttentionDims& d, T* o, float* lse,
                               void* workspace, StreamHandle s) {
  static_assert(std::is_same_v<T, f16_t> || std::is_same_v<T, bf16_t>, "tensor-core attention: f16 / bf16");
  check_tc(d, sched);
  if (sched.query_blocks == 0) return;
  LESEG_KCHECK(workspace || sched.partial_rows == 0, "attention (tensor cores): null workspace");
  cuda::NvtxRange r("leseg::attention_tc_forward");
  float* part = static_cast<float*>(workspace);
  const dim3 grid(unsigned(sched.query_blocks), unsigned(d.heads));
  const unsigned cb = unsigned((d.tq * d.heads + 127) / 128);
  switch (padded_dim(d.dim)) {
#define LESEG_CASE(DP)                                                                                          \
  case DP:                                                                                                      \
    tc_fwd_kernel<DP, T><<<grid, kThreads, 0, cuda::stream_of(s)>>>(q, k, v, sched.table, d.batch, key_mask,     \
                                                                    key_bias, d.heads, int(d.dim),              \
                                                                    float(d.scale), o, lse, part);              \
    if (sched.partial_rows > 0)                                                                                 \
      tc_fwd_combine_kernel<DP, T><<<cb, 128, 0, cuda::stream_of(s)>>>(sched.table, d.batch, d.tq, d.heads,     \
                                                                       int(d.dim), part, o, lse);               \
    break;
    LESEG_TC_DIMS(LESEG_CASE)
#undef LESEG_CASE
  }
  LESEG_CUDA_CHECK_LAUNCH("attention_tc_forward");
}

template <class T>
void attention_tc_backward_cuda(const T* q, const T* k, const T* v, const AttentionTcSchedule& sched,
                                const uint8_t* key_mask, const T* key_bias, const T* o, const float* lse,
                                const T* dout, const AttentionDims& d, T* dq, T* dk, T* dv, T* dbias, void* workspace,
                                StreamHandle s) {
  static_assert(std::is_same_v<T, f16_t> || std::is_same_v<T, bf16_t>, "tensor-core attention: f16 / bf16");
  check_tc(d, sched);
  LESEG_KCHECK(workspace || d.tq * d.heads == 0, "attention backward (tensor cores): null workspace");
  cuda::NvtxRange r("leseg::attention_tc_backward");
  float* Di = static_cast<float*>(workspace);
  float* part = Di + d.tq * d.heads;
  const int64_t D = d.dim;
  cuda::for_each(
      d.tq * d.heads,
      [=] __device__(int64_t row) { tc_rowdot(row, dout, o, D, Di); },
      s, "leseg::attention_tc_rowdot");
  const unsigned cb = unsigned((d.tq * d.heads * d.dim + 255) / 256);
  switch (padded_dim(d.dim)) {
#define LESEG_CASE(DP)                                                                                             \
  case DP: {                                                                                                       \
    constexpr int smem = tc_dyn_smem<DP>();                                                                        \
    LESEG_CUDA_CHECK(cudaFuncSetAttribute(tc_dq_kernel<DP, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)); \
    LESEG_CUDA_CHECK(cudaFuncSetAttribute(tc_dkv_kernel<DP, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)); \
    if (sched.query_blocks > 0) {                                                                                  \
      tc_dq_kernel<DP, T><<<dim3(unsigned(sched.query_blocks), unsigned(d.heads)), kThreads, smem,                 \
                            cuda::stream_of(s)>>>(q, k, v, sched.table, d.batch, key_mask, key_bias, lse, dout, Di, \
                                                  d.heads, int(d.dim), float(d.scale), dq, part);                  \
      if (sched.partial_rows > 0)                                                                                  \
        tc_dq_combine_kernel<DP, T><<<cb, 256, 0, cuda::stream_of(s)>>>(sched.table, d.batch, d.tq, d.heads,       \
                                                                        int(d.dim), part, dq);                     \
    }                                                                                                              \
    if (sched.key_blocks > 0)                                                                                      \
      tc_dkv_kernel<DP, T><<<dim3(unsigned(sched.key_blocks), unsigned(d.heads)), kThreads, smem,                  \
                             cuda::stream_of(s)>>>(q, k, v, sched.table, d.batch, key_mask, key_bias, lse, dout, Di, \
                                                   d.heads, int(d.dim), float(d.scale), dk, dv, dbias);            \
    break;                                                                                                         \
  }
    LESEG_TC_DIMS(LESEG_CASE)
#undef LESEG_CASE
  }
  LESEG_CUDA_CHECK_LAUNCH("attention_tc_backward");
}

#define LESEG_TC_INST(T)                                                                                         \
  template void attention_tc_forward_cuda<T>(const T*, const T*, const T*, const AttentionTcSchedule&,            \
                                             const uint8_t*, const T*, const AttentionDims&, T*, float*, void*,  \
                                             StreamHandle);                                                      \
  template void attention_tc_backward_cuda<T>(const T*, const T*, const T*, const AttentionTcSchedule&,           \
                                              const uint8_t*, const T*, const T*, const float*, const T*,        \
                                              const AttentionDims&, T*, T*, T*, T*, void*, StreamHandle);
LESEG_TC_INST(f16_t)
LESEG_TC_INST(bf16_t)
#undef LESEG_TC_INST

}  // namespace leseg::kernels
