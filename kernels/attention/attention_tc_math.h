// SPDX-License-Identifier: Apache-2.0
// Index maths of the tensor-core attention variant (attention_tc_cuda.cu), shared with its CPU tests:
//   * the fragment maps of PTX mma.sync.aligned.m16n8k16 (A 16x16 row-major, B 16x8 "col", C/D 16x8 f32):
//     which (row, col) element register slot `i` of lane `lane` holds (PTX ISA, "Matrix Fragments for
//     mma.m16n8k16" with .f16/.bf16 inputs);
//   * the tile schedule: block -> (set, query tile, KV split) for packed varlen sets, the split-KV
//     partitioning of a set's keys, block -> (set, key tile) for the dK/dV pass;
//   * the deterministic split-KV combine (splits folded in index order 0, 1, ..., n-1).
// The schedule is a small int32 table built once per offsets tensor on the host (build_tc_schedule) and
// uploaded; kernels read it on the device (no host copy of the offsets per call, engine/ops/attention.cpp
// caches it). Layout of the table (all int32, `batch` = B):
//   [0, B+1)            cu_q         query offsets
//   [B+1, 2B+2)         cu_k         key offsets
//   [2B+2, 3B+3)        qblk         prefix of query-side blocks: set b owns blocks [qblk[b], qblk[b+1])
//                                    = qtiles(b) * nsplit(b), ordered (query tile major, split minor)
//   [3B+3, 4B+3)        nsplit       KV splits of set b (1 = no split)
//   [4B+3, 5B+4)        kblk         prefix of key tiles (dK/dV pass): set b owns [kblk[b], kblk[b+1])
//   [5B+4, 6B+5)        pslot        prefix of partial slots: set b's query rows own partial rows
//                                    [pslot[b], pslot[b+1]) = lq(b) * nsplit(b) when nsplit(b) > 1, else none
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/attention/attention_math.h"
#include "kernels/common/hd.h"

namespace leseg::kernels::attn_tc {

// ---- tile sizes ----
constexpr int kWarps = 4;               // warps per block
constexpr int kThreads = kWarps * 32;   // threads per block
constexpr int kBQ = 16 * kWarps;        // query rows per block (16 per warp: one mma M)
constexpr int kBK = 64;                 // keys per streamed tile (forward, dQ pass)
constexpr int kBKeys = 16 * kWarps;     // key rows per block of the dK/dV pass (16 per warp)
constexpr int kBQs = 64;                // queries per streamed tile of the dK/dV pass

// Head dim padded inside the kernel: next of 16, 32, 64, 96, 128 (zero columns change no dot product and
// their outputs are not stored).
LESEG_HD int padded_dim(int64_t d) { return d <= 16 ? 16 : d <= 32 ? 32 : d <= 64 ? 64 : d <= 96 ? 96 : 128; }
LESEG_HD bool supports_dim(int64_t d) { return d >= 1 && d <= 128; }

// ---- mma.m16n8k16 fragment maps (lane 0..31; g = lane / 4 "groupID", t = lane % 4 "threadID_in_group") ----
struct RC {
  int row, col;
};
// A (16 x 16, .row): 8 halves per lane in 4 .b32 registers; slot i = 2 * reg + half.
//   reg 0: (g, 2t + h)   reg 1: (g + 8, 2t + h)   reg 2: (g, 2t + 8 + h)   reg 3: (g + 8, 2t + 8 + h)
LESEG_HD RC frag_a(int lane, int i) {
  const int g = lane >> 2, t = lane & 3, reg = i >> 1, h = i & 1;
  return {g + ((reg & 1) ? 8 : 0), 2 * t + h + ((reg & 2) ? 8 : 0)};
}
// B (16 x 8, .col; row = k, col = n): 4 halves per lane in 2 registers.
//   reg 0: (2t + h, g)   reg 1: (2t + 8 + h, g)
LESEG_HD RC frag_b(int lane, int i) {
  const int g = lane >> 2, t = lane & 3, reg = i >> 1, h = i & 1;
  return {2 * t + h + (reg ? 8 : 0), g};
}
// C / D (16 x 8, f32): 4 floats per lane.   c0, c1: (g, 2t + h)   c2, c3: (g + 8, 2t + h)
LESEG_HD RC frag_c(int lane, int i) {
  const int g = lane >> 2, t = lane & 3;
  return {g + ((i & 2) ? 8 : 0), 2 * t + (i & 1)};
}
// The FlashAttention register reuse: the C fragments of two neighbouring n-blocks (columns [0, 8) and
// [8, 16)) of a 16 x 16 product are, slot for slot, the A fragment of that 16 x 16 matrix:
//   A slot i  <-  C fragment (i >> 2) (n-block), slot (i & 3) ... with the register order below.
// A register r holds (row g + 8 * (r & 1), col 8 * (r >> 1) + 2t + h); C slot (2 * (r & 1) + h) of n-block
// (r >> 1) holds the same element. Returns {n-block, C slot} for A slot i.
struct CSlot {
  int nblock, slot;
};
LESEG_HD CSlot a_from_c(int i) {
  const int reg = i >> 1, h = i & 1;
  return {reg >> 1, 2 * (reg & 1) + h};
}

// Element offsets of fragment slots in a row-major shared-memory tile with row stride `ld` (the kernels' gathers):
//   A block at (r0, c0):                          A[r][c] = tile[(r0 + r) * ld + c0 + c]
//   B from a tile holding B^T (n as rows):        B[k][n] = tile[(n0 + n) * ld + k0 + k]   (K for Q K^T, Q for K Q^T)
//   B from a tile holding B (k as rows):          B[k][n] = tile[(k0 + k) * ld + n0 + n]   (V for P V, K for dS K)
LESEG_HD int off_a(int lane, int i, int ld, int r0, int c0) {
  const RC e = frag_a(lane, i);
  return (r0 + e.row) * ld + c0 + e.col;
}
LESEG_HD int off_b_nk(int lane, int i, int ld, int n0, int k0) {
  const RC e = frag_b(lane, i);
  return (n0 + e.col) * ld + k0 + e.row;
}
LESEG_HD int off_b_kn(int lane, int i, int ld, int k0, int n0) {
  const RC e = frag_b(lane, i);
  return (k0 + e.row) * ld + n0 + e.col;
}

// ---- schedule ----
LESEG_HD int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct TableView {
  const int32_t* t;
  int64_t batch;
  LESEG_HD const int32_t* cu_q() const { return t; }
  LESEG_HD const int32_t* cu_k() const { return t + (batch + 1); }
  LESEG_HD const int32_t* qblk() const { return t + 2 * (batch + 1); }
  LESEG_HD const int32_t* nsplit() const { return t + 3 * (batch + 1); }
  LESEG_HD const int32_t* kblk() const { return t + 3 * (batch + 1) + batch; }
  LESEG_HD const int32_t* pslot() const { return t + 4 * (batch + 1) + batch; }
  LESEG_HD int64_t query_blocks() const { return qblk()[batch]; }
  LESEG_HD int64_t key_blocks() const { return kblk()[batch]; }
  LESEG_HD int64_t partial_rows() const { return pslot()[batch]; }
};
LESEG_HD int64_t table_size(int64_t batch) { return 6 * batch + 5; }

// Last b in [0, batch) with prefix[b] <= x (prefix non-decreasing, prefix[0] = 0 <= x < prefix[batch]):
// the set owning block x. Empty sets (prefix[b] == prefix[b+1]) are skipped.
LESEG_HD int64_t owner(const int32_t* prefix, int64_t batch, int64_t x) {
  int64_t lo = 0, hi = batch;  // invariant: prefix[lo] <= x < prefix[hi]
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (prefix[mid] <= x) lo = mid; else hi = mid;
  }
  return lo;
}

// Keys of one split: split s of n over a set of lk keys gets the kBK-aligned chunk [s * c, min((s+1) * c, lk))
// with c = ceil(ceil(lk / kBK) / n) * kBK (relative to the set's first key).
struct Range {
  int64_t begin, end;
};
LESEG_HD Range split_keys(int64_t lk, int64_t n, int64_t s) {
  const int64_t c = ceil_div(ceil_div(lk, kBK), n) * kBK;
  const int64_t b = s * c < lk ? s * c : lk, e = (s + 1) * c < lk ? (s + 1) * c : lk;
  return {b, e};
}

// What one query-side block does.
struct QueryBlock {
  int64_t set;
  int64_t q0, q1;     // absolute query rows [q0, q1)
  int64_t k0, k1;     // absolute key rows of its split [k0, k1)
  int64_t split, nsplit;
  int64_t prow0;      // partial row of query q0 for split 0 (valid when nsplit > 1): partial row of query q,
                      // split s = prow0 + (q - q0) * nsplit + s
};
LESEG_HD QueryBlock query_block(const TableView& tv, int64_t blk) {
  QueryBlock r;
  r.set = owner(tv.qblk(), tv.batch, blk);
  const int64_t b = r.set, local = blk - tv.qblk()[b];
  r.nsplit = tv.nsplit()[b];
  const int64_t tile = local / r.nsplit;
  r.split = local % r.nsplit;
  const int64_t qb = tv.cu_q()[b], qe = tv.cu_q()[b + 1];
  r.q0 = qb + tile * kBQ;
  r.q1 = r.q0 + kBQ < qe ? r.q0 + kBQ : qe;
  const int64_t kb = tv.cu_k()[b], lk = tv.cu_k()[b + 1] - kb;
  const Range kr = split_keys(lk, r.nsplit, r.split);
  r.k0 = kb + kr.begin;
  r.k1 = kb + kr.end;
  r.prow0 = tv.pslot()[b] + (r.q0 - qb) * r.nsplit;
  return r;
}
struct KeyBlock {
  int64_t set, k0, k1, q0, q1;
};
LESEG_HD KeyBlock key_block(const TableView& tv, int64_t blk) {
  KeyBlock r;
  r.set = owner(tv.kblk(), tv.batch, blk);
  const int64_t b = r.set, local = blk - tv.kblk()[b];
  const int64_t ke = tv.cu_k()[b + 1];
  r.k0 = tv.cu_k()[b] + local * kBKeys;
  r.k1 = r.k0 + kBKeys < ke ? r.k0 + kBKeys : ke;
  r.q0 = tv.cu_q()[b];
  r.q1 = tv.cu_q()[b + 1];
  return r;
}

// Splits for a set with `qtiles` query tiles and `lk` keys when the whole batch has `total_qtiles` query
// tiles: split only when the query side alone would leave the GPU idle (fewer than target_blocks blocks),
// into enough splits to reach the target, with at least 4 key tiles per split and at most kMaxSplit.
constexpr int64_t kMaxSplit = 128;
LESEG_HD int64_t choose_splits(int64_t qtiles, int64_t lk, int64_t total_qtiles, int64_t target_blocks) {
  if (qtiles == 0 || lk == 0 || total_qtiles >= target_blocks) return 1;
  int64_t n = ceil_div(target_blocks, total_qtiles);
  const int64_t by_len = ceil_div(lk, 4 * kBK);
  if (n > by_len) n = by_len;
  if (n > kMaxSplit) n = kMaxSplit;
  if (n < 1) n = 1;
  // Every split must own at least one key (split_keys' chunk is kBK-aligned, so trailing splits could be
  // empty): shrink to the number of non-empty chunks.
  const int64_t c = ceil_div(ceil_div(lk, kBK), n) * kBK;
  return ceil_div(lk, c);
}

// Builds the table from validated offsets (host; once per offsets tensor). heads multiply the grid in y, so
// the block target counts (blocks x heads).
template <class I>
std::vector<int32_t> build_tc_schedule(const I* cu_q, const I* cu_k, int64_t batch, int64_t heads,
                                       int64_t target_blocks, bool allow_split = true) {
  std::vector<int32_t> t(size_t(table_size(batch)), 0);
  TableView tv{t.data(), batch};
  int32_t* cq = t.data();
  int32_t* ck = cq + (batch + 1);
  int32_t* qb = ck + (batch + 1);
  int32_t* ns = qb + (batch + 1);
  int32_t* kb = ns + batch;
  int32_t* ps = kb + (batch + 1);
  int64_t total_qtiles = 0;
  for (int64_t b = 0; b <= batch; ++b) {
    cq[b] = int32_t(cu_q[b]);
    ck[b] = int32_t(cu_k[b]);
  }
  for (int64_t b = 0; b < batch; ++b) total_qtiles += ceil_div(int64_t(cu_q[b + 1]) - int64_t(cu_q[b]), kBQ);
  const int64_t per_head_target = ceil_div(target_blocks, heads < 1 ? 1 : heads);
  qb[0] = kb[0] = ps[0] = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t lq = int64_t(cu_q[b + 1]) - int64_t(cu_q[b]), lk = int64_t(cu_k[b + 1]) - int64_t(cu_k[b]);
    const int64_t qt = ceil_div(lq, kBQ);
    const int64_t n = allow_split ? choose_splits(qt, lk, total_qtiles, per_head_target) : 1;
    ns[b] = int32_t(n);
    qb[b + 1] = int32_t(qb[b] + qt * n);
    kb[b + 1] = int32_t(kb[b] + ceil_div(lk, kBKeys));
    ps[b + 1] = int32_t(ps[b] + (n > 1 ? lq * n : 0));
  }
  (void)tv;
  return t;
}

// ---- deterministic split-KV combine ----
// Split s left, for one (query, head), a record [m_s, l_s, a_s[0..dim)] at part + s * split_stride: its
// running max m_s, sum l_s of exp(logit - m_s) and unnormalised accumulator a_s. Folded in split order
// 0, 1, ..., n-1 (fixed, so the result is deterministic): M = max_s m_s, l = sum_s l_s e^(m_s - M),
// acc = sum_s a_s e^(m_s - M); returns 1/l and sets lse = M + log l (0 and +inf when no split saw an
// unmasked key). Partial record layout: partial row p, head h at (p * H + h) * record_floats(dp).
LESEG_HD int64_t record_floats(int dp) { return int64_t(dp) + 2; }
LESEG_HD float combine_splits(const float* part, int64_t n, int64_t split_stride, int dim, float* acc, float& lse) {
  float M = attn::neg_inf<float>();
  for (int64_t s = 0; s < n; ++s) M = part[s * split_stride] > M ? part[s * split_stride] : M;
  float L = 0.f;
  for (int c = 0; c < dim; ++c) acc[c] = 0.f;
  if (M == attn::neg_inf<float>()) {
    lse = INFINITY;
    return 0.f;
  }
  for (int64_t s = 0; s < n; ++s) {
    const float* r = part + s * split_stride;
    const float w = r[0] == attn::neg_inf<float>() ? 0.f : std::exp(r[0] - M);
    L += r[1] * w;
    for (int c = 0; c < dim; ++c) acc[c] += r[2 + c] * w;
  }
  return attn::finalize(M, L, lse);
}

}  // namespace leseg::kernels::attn_tc
