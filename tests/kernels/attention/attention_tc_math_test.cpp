// SPDX-License-Identifier: Apache-2.0
// CPU tests of the tensor-core attention's index maths (kernels/attention/attention_tc_math.h):
//   * the mma.m16n8k16 fragment maps, exhaustively (bijections onto their tiles, PTX ISA spot values) and the
//     C -> A register reuse the kernels rely on for P V, dS K, P^T dO and dS^T Q;
//   * the schedule: every (query row, split) and every key row owned by exactly one block, split key ranges
//     tiling each set in order, partial rows unique, splits chosen for few-queries-many-keys only;
//   * a CPU emulation that runs the kernels' schedule in f32 (per-block online softmax over kBK-key tiles,
//     split records, the ordered combine; the dQ pass with split partials) and reproduces the CPU twin.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_math.h"
#include "kernels/attention/attention_tc_math.h"

namespace leseg::kernels {
namespace {

using namespace attn_tc;

TEST(AttentionTcFragments, MapsAreBijectionsOntoTheirTiles) {
  std::set<std::pair<int, int>> a, b, c;
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 8; ++i) {
      const RC e = frag_a(lane, i);
      ASSERT_TRUE(e.row >= 0 && e.row < 16 && e.col >= 0 && e.col < 16) << lane << " " << i;
      a.insert({e.row, e.col});
    }
    for (int i = 0; i < 4; ++i) {
      const RC eb = frag_b(lane, i), ec = frag_c(lane, i);
      ASSERT_TRUE(eb.row >= 0 && eb.row < 16 && eb.col >= 0 && eb.col < 8);
      ASSERT_TRUE(ec.row >= 0 && ec.row < 16 && ec.col >= 0 && ec.col < 8);
      b.insert({eb.row, eb.col});
      c.insert({ec.row, ec.col});
    }
  }
  EXPECT_EQ(a.size(), 256u);
  EXPECT_EQ(b.size(), 128u);
  EXPECT_EQ(c.size(), 128u);
}

TEST(AttentionTcFragments, PtxIsaSpotValues) {
  // lane 5: groupID 1, threadID_in_group 1 (PTX ISA, mma.m16n8k16 .f16/.bf16 fragment figures).
  EXPECT_EQ(frag_a(5, 0).row, 1); EXPECT_EQ(frag_a(5, 0).col, 2);
  EXPECT_EQ(frag_a(5, 1).row, 1); EXPECT_EQ(frag_a(5, 1).col, 3);
  EXPECT_EQ(frag_a(5, 2).row, 9); EXPECT_EQ(frag_a(5, 2).col, 2);
  EXPECT_EQ(frag_a(5, 4).row, 1); EXPECT_EQ(frag_a(5, 4).col, 10);
  EXPECT_EQ(frag_a(5, 7).row, 9); EXPECT_EQ(frag_a(5, 7).col, 11);
  EXPECT_EQ(frag_b(5, 0).row, 2); EXPECT_EQ(frag_b(5, 0).col, 1);
  EXPECT_EQ(frag_b(5, 3).row, 11); EXPECT_EQ(frag_b(5, 3).col, 1);
  EXPECT_EQ(frag_c(31, 0).row, 7); EXPECT_EQ(frag_c(31, 0).col, 6);
  EXPECT_EQ(frag_c(31, 3).row, 15); EXPECT_EQ(frag_c(31, 3).col, 7);
  // Pairs packed into one 32-bit register are neighbouring columns of A and neighbouring k of B (the kernels'
  // 32-bit shared-memory loads depend on it).
  for (int lane = 0; lane < 32; ++lane)
    for (int r = 0; r < 4; ++r) {
      EXPECT_EQ(frag_a(lane, 2 * r + 1).col, frag_a(lane, 2 * r).col + 1);
      EXPECT_EQ(frag_a(lane, 2 * r + 1).row, frag_a(lane, 2 * r).row);
      EXPECT_EQ(frag_a(lane, 2 * r).col % 2, 0);
      if (r < 2) {
        EXPECT_EQ(frag_b(lane, 2 * r + 1).row, frag_b(lane, 2 * r).row + 1);
        EXPECT_EQ(frag_b(lane, 2 * r + 1).col, frag_b(lane, 2 * r).col);
      }
    }
}

TEST(AttentionTcFragments, AccumulatorsOfTwoNBlocksAreAnAFragment) {
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 8; ++i) {
      const CSlot s = a_from_c(i);
      ASSERT_TRUE(s.nblock == 0 || s.nblock == 1);
      const RC c = frag_c(lane, s.slot), a = frag_a(lane, i);
      EXPECT_EQ(c.row, a.row) << lane << " " << i;
      EXPECT_EQ(c.col + 8 * s.nblock, a.col) << lane << " " << i;
    }
}

// An m16n8k16 product computed lane by lane from the fragments the maps gather (what the hardware receives),
// equals the plain product: the maps are a consistent description of one mma.
TEST(AttentionTcFragments, EmulatedMmaFromFragmentsIsTheProduct) {
  std::mt19937 g(7);
  std::uniform_real_distribution<float> u(-1, 1);
  float A[16][16], B[16][8], C[16][8];
  for (auto& r : A) for (auto& x : r) x = u(g);
  for (auto& r : B) for (auto& x : r) x = u(g);
  for (auto& r : C) for (auto& x : r) x = u(g);
  // Fragments per lane, then the warp-wide reassembly the tensor core performs.
  float fa[32][8], fb[32][4], fc[32][4];
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 8; ++i) fa[lane][i] = A[frag_a(lane, i).row][frag_a(lane, i).col];
    for (int i = 0; i < 4; ++i) fb[lane][i] = B[frag_b(lane, i).row][frag_b(lane, i).col];
    for (int i = 0; i < 4; ++i) fc[lane][i] = C[frag_c(lane, i).row][frag_c(lane, i).col];
  }
  float A2[16][16] = {}, B2[16][8] = {};
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 8; ++i) A2[frag_a(lane, i).row][frag_a(lane, i).col] = fa[lane][i];
    for (int i = 0; i < 4; ++i) B2[frag_b(lane, i).row][frag_b(lane, i).col] = fb[lane][i];
  }
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const RC e = frag_c(lane, i);
      double d = fc[lane][i], ref = C[e.row][e.col];
      for (int kk = 0; kk < 16; ++kk) {
        d += double(A2[e.row][kk]) * B2[kk][e.col];
        ref += double(A[e.row][kk]) * B[kk][e.col];
      }
      EXPECT_EQ(d, ref);
    }
}

// ---- a warp's operand flow, emulated lane by lane with the kernels' gathers ----
// Per-lane fragments -> the m16n8k16 product the tensor core forms from them (reassembled through the maps).
using FragA = std::array<std::array<float, 8>, 32>;
using FragB = std::array<std::array<float, 4>, 32>;
using Acc = std::array<std::array<float, 4>, 32>;
void warp_mma(Acc& c, const FragA& a, const FragB& b) {
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < 8; ++i) A[frag_a(lane, i).row][frag_a(lane, i).col] = a[lane][i];
    for (int i = 0; i < 4; ++i) B[frag_b(lane, i).row][frag_b(lane, i).col] = b[lane][i];
  }
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const RC e = frag_c(lane, i);
      for (int kk = 0; kk < 16; ++kk) c[lane][i] += A[e.row][kk] * B[kk][e.col];
    }
}
FragA gather_a(const std::vector<float>& t, int ld, int r0, int c0) {
  FragA f;
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 8; ++i) f[lane][i] = t[size_t(off_a(lane, i, ld, r0, c0))];
  return f;
}
FragB gather_b_nk(const std::vector<float>& t, int ld, int n0, int k0) {
  FragB f;
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) f[lane][i] = t[size_t(off_b_nk(lane, i, ld, n0, k0))];
  return f;
}
FragB gather_b_kn(const std::vector<float>& t, int ld, int k0, int n0) {
  FragB f;
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) f[lane][i] = t[size_t(off_b_kn(lane, i, ld, k0, n0))];
  return f;
}
// The kernels' a_from_acc: A fragments of columns [16 kc, 16 kc + 16) of an accumulator row block.
FragA a_from_acc(const std::vector<Acc>& c, int kc) {
  FragA f;
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 8; ++i) {
      const CSlot s = a_from_c(i);
      f[lane][i] = c[size_t(2 * kc + s.nblock)][lane][s.slot];
    }
  return f;
}
// Accumulator blocks (n-blocks of 8 columns) of a 16-row result -> dense (16, 8 * blocks).
std::vector<float> dense(const std::vector<Acc>& c) {
  const int cols = int(c.size()) * 8;
  std::vector<float> m(size_t(16 * cols));
  for (size_t n = 0; n < c.size(); ++n)
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i) m[size_t(frag_c(lane, i).row * cols + int(n) * 8 + frag_c(lane, i).col)] = c[n][lane][i];
  return m;
}

// The call pattern of attention_tc_cuda.cu for one warp (DP = 32, tiles with the kernels' DP + 8 row stride; small
// integers, so every product is exact): forward S = Q K^T (ld_a / frag_a on Q, ld_b_nk on K), O += P V
// (a_from_acc, ld_b_kn on V); dQ pass dP = dO V^T (ld_b_nk on V), dQ += dS K (ld_b_kn on K); dK/dV pass
// S^T = K Q^T (ld_a on K, ld_b_nk on Q), dV += P^T dO and dK += dS^T Q (a_from_acc, ld_b_kn on dO / Q).
TEST(AttentionTcFragments, WarpOperandFlowComputesTheKernelsProducts) {
  constexpr int DP = 32, SP = DP + 8, KC = DP / 16, NB = DP / 8, BK = 64, SN = BK / 8;
  std::mt19937 g(9);
  auto tile = [&](int rows) {
    std::vector<float> t(size_t(rows * SP), 1e9f);  // skew columns poisoned: reading them breaks the sums
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < DP; ++c) t[size_t(r * SP + c)] = float(int(g() % 7) - 3);
    return t;
  };
  const std::vector<float> Q = tile(16), K = tile(BK), V = tile(BK), Q64 = tile(BK);
  auto at = [&](const std::vector<float>& t, int r, int c) { return t[size_t(r * SP + c)]; };
  // S = Q K^T  (16 x 64)
  std::vector<Acc> S(SN, Acc{});
  for (int kc = 0; kc < KC; ++kc)
    for (int n = 0; n < SN; ++n) warp_mma(S[size_t(n)], gather_a(Q, SP, 0, kc * 16), gather_b_nk(K, SP, n * 8, kc * 16));
  const std::vector<float> s = dense(S);
  for (int r = 0; r < 16; ++r)
    for (int j = 0; j < BK; ++j) {
      float ref = 0;
      for (int c = 0; c < DP; ++c) ref += at(Q, r, c) * at(K, j, c);
      ASSERT_EQ(s[size_t(r * BK + j)], ref) << r << " " << j;
    }
  // O = S V  (16 x DP): the accumulators of S reused as A fragments; same flow for dQ = dS K with K in place of V.
  for (const std::vector<float>* B : {&V, &K}) {
    std::vector<Acc> O(NB, Acc{});
    for (int kc = 0; kc < BK / 16; ++kc)
      for (int n = 0; n < NB; ++n) warp_mma(O[size_t(n)], a_from_acc(S, kc), gather_b_kn(*B, SP, kc * 16, n * 8));
    const std::vector<float> o = dense(O);
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < DP; ++c) {
        float ref = 0;
        for (int j = 0; j < BK; ++j) ref += s[size_t(r * BK + j)] * at(*B, j, c);
        ASSERT_EQ(o[size_t(r * DP + c)], ref) << r << " " << c;
      }
  }
  // dK/dV pass, warp 1 (keys 16..31 of the block's 64): S^T = K Q^T (16 keys x 64 queries), then dK = S^T Q.
  std::vector<Acc> ST(SN, Acc{});
  for (int kc = 0; kc < KC; ++kc)
    for (int n = 0; n < SN; ++n)
      warp_mma(ST[size_t(n)], gather_a(K, SP, 16, kc * 16), gather_b_nk(Q64, SP, n * 8, kc * 16));
  const std::vector<float> st = dense(ST);
  for (int r = 0; r < 16; ++r)
    for (int i = 0; i < BK; ++i) {
      float ref = 0;
      for (int c = 0; c < DP; ++c) ref += at(K, 16 + r, c) * at(Q64, i, c);
      ASSERT_EQ(st[size_t(r * BK + i)], ref) << r << " " << i;
    }
  std::vector<Acc> dK(NB, Acc{});
  for (int kc = 0; kc < BK / 16; ++kc)
    for (int n = 0; n < NB; ++n) warp_mma(dK[size_t(n)], a_from_acc(ST, kc), gather_b_kn(Q64, SP, kc * 16, n * 8));
  const std::vector<float> dk = dense(dK);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < DP; ++c) {
      float ref = 0;
      for (int i = 0; i < BK; ++i) ref += st[size_t(r * BK + i)] * at(Q64, i, c);
      ASSERT_EQ(dk[size_t(r * DP + c)], ref) << r << " " << c;
    }
}

TEST(AttentionTcSchedule, PaddedDims) {
  EXPECT_EQ(padded_dim(1), 16);
  EXPECT_EQ(padded_dim(16), 16);
  EXPECT_EQ(padded_dim(17), 32);
  EXPECT_EQ(padded_dim(48), 64);
  EXPECT_EQ(padded_dim(80), 96);
  EXPECT_EQ(padded_dim(96), 96);
  EXPECT_EQ(padded_dim(100), 128);
  EXPECT_EQ(padded_dim(128), 128);
  EXPECT_FALSE(supports_dim(129));
  EXPECT_FALSE(supports_dim(0));
}

std::vector<int64_t> offsets(const std::vector<int64_t>& lens) {
  std::vector<int64_t> cu{0};
  for (auto l : lens) cu.push_back(cu.back() + l);
  return cu;
}

// Structural checks of one table.
void check_schedule(const std::vector<int64_t>& lq, const std::vector<int64_t>& lk, int64_t heads, int64_t target) {
  SCOPED_TRACE(::testing::Message() << "sets " << lq.size() << " target " << target);
  const auto cq = offsets(lq), ck = offsets(lk);
  const int64_t B = int64_t(lq.size());
  const std::vector<int32_t> t = build_tc_schedule(cq.data(), ck.data(), B, heads, target);
  ASSERT_EQ(int64_t(t.size()), table_size(B));
  const TableView tv{t.data(), B};
  for (int64_t b = 0; b <= B; ++b) {
    ASSERT_EQ(tv.cu_q()[b], cq[size_t(b)]);
    ASSERT_EQ(tv.cu_k()[b], ck[size_t(b)]);
  }
  // (query row, split) -> owning block count; key ranges per (set, split).
  const int64_t Tq = cq.back(), Tk = ck.back();
  std::vector<int> seen_q;  // index: partial row or row for unsplit sets
  std::vector<std::vector<int>> cover(static_cast<size_t>(Tq));
  std::set<int64_t> prows;
  for (int64_t blk = 0; blk < tv.query_blocks(); ++blk) {
    const QueryBlock qb = query_block(tv, blk);
    ASSERT_GE(qb.set, 0);
    ASSERT_LT(qb.set, B);
    ASSERT_LT(qb.q0, qb.q1) << "empty query block " << blk;
    ASSERT_GE(qb.q0, cq[size_t(qb.set)]);
    ASSERT_LE(qb.q1, cq[size_t(qb.set) + 1]);
    ASSERT_LE(qb.q1 - qb.q0, kBQ);
    ASSERT_EQ(qb.nsplit, tv.nsplit()[qb.set]);
    if (lk[size_t(qb.set)] > 0) {
      ASSERT_LT(qb.k0, qb.k1) << "empty split";
    }
    ASSERT_GE(qb.k0, ck[size_t(qb.set)]);
    ASSERT_LE(qb.k1, ck[size_t(qb.set) + 1]);
    for (int64_t q = qb.q0; q < qb.q1; ++q) {
      cover[size_t(q)].push_back(int(qb.split));
      if (qb.nsplit > 1) {
        const int64_t p = qb.prow0 + (q - qb.q0) * qb.nsplit + qb.split;
        ASSERT_TRUE(prows.insert(p).second) << "partial row " << p << " twice";
        ASSERT_LT(p, tv.partial_rows());
        ASSERT_GE(p, tv.pslot()[qb.set]);
        ASSERT_LT(p, tv.pslot()[qb.set + 1]);
      }
    }
  }
  EXPECT_EQ(int64_t(prows.size()), tv.partial_rows());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = tv.nsplit()[b];
    for (int64_t q = cq[size_t(b)]; q < cq[size_t(b) + 1]; ++q) {
      std::vector<int> s = cover[size_t(q)];
      std::sort(s.begin(), s.end());
      ASSERT_EQ(int64_t(s.size()), n) << "query " << q;
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(s[size_t(i)], i);
    }
    // Splits tile the set's keys in order, each non-empty and kBK-aligned at its start.
    int64_t at = 0;
    for (int64_t s = 0; s < n; ++s) {
      const Range r = split_keys(lk[size_t(b)], n, s);
      EXPECT_EQ(r.begin, at);
      EXPECT_EQ(r.begin % kBK, 0);
      if (lk[size_t(b)] > 0) {
        EXPECT_LT(r.begin, r.end);
      }
      at = r.end;
    }
    EXPECT_EQ(at, lk[size_t(b)]);
  }
  std::vector<int> kcount(size_t(Tk), 0);
  for (int64_t blk = 0; blk < tv.key_blocks(); ++blk) {
    const KeyBlock kb = key_block(tv, blk);
    ASSERT_LT(kb.k0, kb.k1);
    ASSERT_LE(kb.k1 - kb.k0, kBKeys);
    EXPECT_EQ(kb.q0, cq[size_t(kb.set)]);
    EXPECT_EQ(kb.q1, cq[size_t(kb.set) + 1]);
    for (int64_t k = kb.k0; k < kb.k1; ++k) {
      ASSERT_GE(k, ck[size_t(kb.set)]);
      ASSERT_LT(k, ck[size_t(kb.set) + 1]);
      ++kcount[size_t(k)];
    }
  }
  for (int64_t k = 0; k < Tk; ++k) ASSERT_EQ(kcount[size_t(k)], 1) << "key " << k;
}

TEST(AttentionTcSchedule, EveryRowOwnedOnce) {
  check_schedule({1, 7, 64, 65, 0, 1000, 4096}, {1, 7, 64, 65, 3, 1000, 4096}, 4, 264);
  check_schedule({5, 0, 3}, {0, 9, 100}, 2, 264);                 // a set without keys, one without queries
  check_schedule({20}, {100000}, 8, 264);                         // erda2d: 20 class queries x 100k pixels
  check_schedule({20, 20, 1}, {100000, 777, 65}, 8, 1056);        // mixed splits
  check_schedule({1000, 1000, 1000, 1000}, {1000, 1000, 1000, 1000}, 8, 264);
  std::mt19937 g(3);
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<int64_t> lq, lk;
    const int B = 1 + int(g() % 6);
    for (int b = 0; b < B; ++b) {
      lq.push_back(int64_t(g() % 300));
      lk.push_back(int64_t(g() % 3000));
    }
    check_schedule(lq, lk, 1 + int64_t(g() % 8), 16 + int64_t(g() % 600));
  }
}

TEST(AttentionTcSchedule, SplitsOnlyWhenQueriesLeaveTheGpuIdle) {
  auto splits = [](std::vector<int64_t> lq, std::vector<int64_t> lk, int64_t heads, int64_t target) {
    const auto cq = offsets(lq), ck = offsets(lk);
    const auto t = build_tc_schedule(cq.data(), ck.data(), int64_t(lq.size()), heads, target);
    const TableView tv{t.data(), int64_t(lq.size())};
    std::vector<int64_t> n;
    for (size_t b = 0; b < lq.size(); ++b) n.push_back(tv.nsplit()[b]);
    return n;
  };
  // 20 x 100k, 8 heads, 132 SMs x 2: one query tile per head -> ceil(264 / 8) = 33 splits.
  EXPECT_EQ(splits({20}, {100000}, 8, 264)[0], 33);
  // 16 sets of 1k tokens, 8 heads: 256 query tiles already fill the target; no split.
  EXPECT_EQ(splits(std::vector<int64_t>(16, 1000), std::vector<int64_t>(16, 1000), 8, 264)[0], 1);
  // Few keys never split below 4 key tiles per split.
  EXPECT_EQ(splits({20}, {300}, 1, 264)[0], 2);
  EXPECT_EQ(splits({20}, {200}, 1, 264)[0], 1);
}

// ---- CPU emulation of the kernels' schedule in f32 vs the CPU twin ----
struct Prob {
  std::vector<int64_t> cq, ck;
  int64_t H, D;
  std::vector<float> q, k, v, bias, dout;
  std::vector<uint8_t> mask;
  AttentionDims dims() const {
    AttentionDims d;
    d.batch = int64_t(cq.size()) - 1;
    d.heads = H;
    d.dim = D;
    d.tq = cq.back();
    d.tk = ck.back();
    for (size_t b = 1; b < cq.size(); ++b) {
      d.max_lq = std::max(d.max_lq, cq[b] - cq[b - 1]);
      d.max_lk = std::max(d.max_lk, ck[b] - ck[b - 1]);
    }
    d.scale = 1.0 / std::sqrt(double(D));
    return d;
  }
};

Prob make(const std::vector<int64_t>& lq, const std::vector<int64_t>& lk, int64_t H, int64_t D, uint32_t seed) {
  Prob p;
  p.cq = offsets(lq);
  p.ck = offsets(lk);
  p.H = H;
  p.D = D;
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  auto fill = [&](std::vector<float>& x, int64_t count) {
    x.resize(size_t(count));
    for (auto& e : x) e = n(g);
  };
  fill(p.q, p.cq.back() * H * D);
  fill(p.k, p.ck.back() * H * D);
  fill(p.v, p.ck.back() * H * D);
  fill(p.dout, p.cq.back() * H * D);
  fill(p.bias, p.ck.back() * H);
  p.mask.resize(size_t(p.ck.back()));
  for (auto& m : p.mask) m = uint8_t(g() % 5 == 0);
  return p;
}

float term_of(const Prob& p, int64_t key, int64_t h) {
  return p.mask[size_t(key)] ? attn::neg_inf<float>() : p.bias[size_t(key * p.H + h)];
}
float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

void emulate_and_compare(const Prob& p, int64_t target) {
  const AttentionDims d = p.dims();
  const int64_t B = d.batch, H = p.H, D = p.D, Tq = d.tq;
  const float scale = float(d.scale);
  const std::vector<int32_t> t = build_tc_schedule(p.cq.data(), p.ck.data(), B, H, target);
  const TableView tv{t.data(), B};
  const int64_t RF = record_floats(int(D));  // the emulation's records hold D (the kernel's DP) columns
  std::vector<float> o(size_t(Tq * H * D), 0.f), lse(size_t(Tq * H), 0.f), part(size_t(tv.partial_rows() * H * RF));
  // Forward: blocks in any order (each owns its outputs), kBK-key tiles inside a block in order.
  for (int64_t blk = tv.query_blocks() - 1; blk >= 0; --blk)
    for (int64_t h = 0; h < H; ++h) {
      const QueryBlock qb = query_block(tv, blk);
      for (int64_t qr = qb.q0; qr < qb.q1; ++qr) {
        const float* qv = &p.q[size_t((qr * H + h) * D)];
        float m = attn::neg_inf<float>(), l = 0.f;
        std::vector<float> a(size_t(D), 0.f), s(kBK);
        for (int64_t k0 = qb.k0; k0 < qb.k1; k0 += kBK) {
          const int64_t nk = std::min<int64_t>(kBK, qb.k1 - k0);
          float tmax = attn::neg_inf<float>();
          for (int64_t j = 0; j < nk; ++j) {
            const float term = term_of(p, k0 + j, h);
            s[size_t(j)] = term == attn::neg_inf<float>()
                               ? term
                               : attn::logit(dot(qv, &p.k[size_t(((k0 + j) * H + h) * D)], D), scale, term);
            tmax = std::max(tmax, s[size_t(j)]);
          }
          float alpha;
          const float mn = attn::online_max(m, tmax, alpha);
          l *= alpha;
          for (auto& x : a) x *= alpha;
          for (int64_t j = 0; j < nk; ++j) {
            const float pr = attn::shifted_exp(s[size_t(j)], mn);
            l += pr;
            for (int64_t c = 0; c < D; ++c) a[size_t(c)] += pr * p.v[size_t(((k0 + j) * H + h) * D + c)];
          }
          m = mn;
        }
        if (qb.nsplit == 1) {
          float L;
          const float inv = attn::finalize(m, l, L);
          for (int64_t c = 0; c < D; ++c) o[size_t((qr * H + h) * D + c)] = a[size_t(c)] * inv;
          lse[size_t(qr * H + h)] = L;
        } else {
          const int64_t pr = qb.prow0 + (qr - qb.q0) * qb.nsplit + qb.split;
          float* rec = &part[size_t((pr * H + h) * RF)];
          rec[0] = m;
          rec[1] = l;
          for (int64_t c = 0; c < D; ++c) rec[2 + c] = a[size_t(c)];
        }
      }
    }
  int split_rows = 0;
  for (int64_t row = 0; row < Tq; ++row)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t b = owner(tv.cu_q(), B, row), n = tv.nsplit()[b];
      if (n == 1) continue;
      ++split_rows;
      const int64_t p0 = tv.pslot()[b] + (row - tv.cu_q()[b]) * n;
      std::vector<float> acc(static_cast<size_t>(D));
      float L;
      const float inv = combine_splits(&part[size_t((p0 * H + h) * RF)], n, H * RF, int(D), acc.data(), L);
      for (int64_t c = 0; c < D; ++c) o[size_t((row * H + h) * D + c)] = acc[size_t(c)] * inv;
      lse[size_t(row * H + h)] = L;
    }
  // The twin (f32 storage).
  std::vector<float> o_ref(o.size()), lse_ref(lse.size());
  attention_forward_cpu<float, int64_t>(p.q.data(), p.k.data(), p.v.data(), p.cq.data(), p.ck.data(), p.mask.data(),
                                        p.bias.data(), d, o_ref.data(), lse_ref.data());
  // f32 with a different summation order (kBK tiles vs the twin's 128-key tiles, the split fold).
  for (size_t i = 0; i < o.size(); ++i)
    ASSERT_NEAR(o[i], o_ref[i], 2e-5 + 2e-5 * std::abs(o_ref[i])) << "o[" << i << "]";
  for (size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(lse_ref[i])) {
      ASSERT_EQ(lse[i], lse_ref[i]) << "lse[" << i << "]";
    } else {
      ASSERT_NEAR(lse[i], lse_ref[i], 2e-5 + 2e-5 * std::abs(lse_ref[i])) << "lse[" << i << "]";
    }
  }

  // dQ pass with the same schedule, from the twin's lse and D_i = <dO, o>, split partials summed in order.
  std::vector<double> Di(size_t(Tq * H));
  for (int64_t r = 0; r < Tq * H; ++r) Di[size_t(r)] = dot(&p.dout[size_t(r * D)], &o_ref[size_t(r * D)], D);
  std::vector<float> dq(o.size(), 0.f), dpart(size_t(tv.partial_rows() * H * D), 0.f);
  for (int64_t blk = 0; blk < tv.query_blocks(); ++blk)
    for (int64_t h = 0; h < H; ++h) {
      const QueryBlock qb = query_block(tv, blk);
      for (int64_t qr = qb.q0; qr < qb.q1; ++qr) {
        const float* qv = &p.q[size_t((qr * H + h) * D)];
        const float* dov = &p.dout[size_t((qr * H + h) * D)];
        std::vector<float> acc(size_t(D), 0.f);
        for (int64_t key = qb.k0; key < qb.k1; ++key) {
          const float term = term_of(p, key, h);
          const float* kv = &p.k[size_t((key * H + h) * D)];
          const float sv = term == attn::neg_inf<float>() ? term : attn::logit(dot(qv, kv, D), scale, term);
          const float ds = attn::dscore(attn::prob(sv, lse_ref[size_t(qr * H + h)]),
                                        dot(dov, &p.v[size_t((key * H + h) * D)], D), float(Di[size_t(qr * H + h)]));
          for (int64_t c = 0; c < D; ++c) acc[size_t(c)] += ds * kv[c];
        }
        for (int64_t c = 0; c < D; ++c) {
          if (qb.nsplit == 1)
            dq[size_t((qr * H + h) * D + c)] = acc[size_t(c)] * scale;
          else
            dpart[size_t(((qb.prow0 + (qr - qb.q0) * qb.nsplit + qb.split) * H + h) * D + c)] = acc[size_t(c)] * scale;
        }
      }
    }
  for (int64_t row = 0; row < Tq; ++row)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t b = owner(tv.cu_q(), B, row), n = tv.nsplit()[b];
      if (n == 1) continue;
      const int64_t p0 = tv.pslot()[b] + (row - tv.cu_q()[b]) * n;
      for (int64_t c = 0; c < D; ++c) {
        float s = 0.f;
        for (int64_t sp = 0; sp < n; ++sp) s += dpart[size_t(((p0 + sp) * H + h) * D + c)];
        dq[size_t((row * H + h) * D + c)] = s;
      }
    }
  std::vector<float> dq_ref(o.size()), dk_ref(p.k.size()), dv_ref(p.v.size()), db_ref(p.bias.size());
  std::vector<double> ws(size_t(attention_backward_workspace_bytes<float>(d) / 8 + 1));
  attention_backward_cpu<float, int64_t>(p.q.data(), p.k.data(), p.v.data(), p.cq.data(), p.ck.data(), p.mask.data(),
                                         p.bias.data(), o_ref.data(), lse_ref.data(), p.dout.data(), d, dq_ref.data(),
                                         dk_ref.data(), dv_ref.data(), db_ref.data(), ws.data());
  float mx = 0.f;
  for (float x : dq_ref) mx = std::max(mx, std::abs(x));
  for (size_t i = 0; i < dq.size(); ++i)
    ASSERT_NEAR(dq[i], dq_ref[i], 1e-4 * mx + 2e-4 * std::abs(dq_ref[i])) << "dq[" << i << "]";
  (void)split_rows;
}

TEST(AttentionTcEmulation, ScheduleReproducesTheTwinSelfAttention) {
  emulate_and_compare(make({1, 70, 200, 0, 300}, {1, 70, 200, 0, 300}, 2, 24, 11), 264);
}

TEST(AttentionTcEmulation, SplitKvCrossAttentionReproducesTheTwin) {
  // 20 queries over 5000 keys with a small block target: the set is split; a second set without split.
  const Prob p = make({20, 33}, {5000, 129}, 2, 16, 12);
  const auto cq = p.cq, ck = p.ck;
  const auto t = build_tc_schedule(cq.data(), ck.data(), 2, 2, 64);
  const TableView tv{t.data(), 2};
  ASSERT_GT(tv.nsplit()[0], 1);
  emulate_and_compare(p, 64);
}

TEST(AttentionTcEmulation, FullyMaskedSplitSetGivesZeroAndInfiniteLse) {
  Prob p = make({20}, {3000}, 1, 8, 13);
  std::fill(p.mask.begin(), p.mask.end(), uint8_t(1));
  emulate_and_compare(p, 64);
  // Some splits masked entirely, others not: combine skips the empty ones.
  Prob p2 = make({5}, {3000}, 1, 8, 14);
  std::fill(p2.mask.begin(), p2.mask.begin() + 2000, uint8_t(1));
  emulate_and_compare(p2, 64);
}

}  // namespace
}  // namespace leseg::kernels
