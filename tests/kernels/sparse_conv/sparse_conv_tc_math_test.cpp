// SPDX-License-Identifier: Apache-2.0
// The shared index math of the tensor-core / grouped sparse-conv dataflows (sparse_conv_tc_math.h), checked
// exhaustively on small cases: Morton keys, mma fragment maps (bijections + the PTX ISA's tabulated positions), the
// grouped segment plan, tile masks, and a CPU emulation of the tensor-core tile loop (same schedule, same fragment
// maps, same mask skipping) that must reproduce the CPU conv exactly on integer inputs (forward and input gradient,
// submanifold and strided maps, bf16 and tf32 fragment shapes).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "engine/sparse/sparse_ops.h"
#include "engine/sparse/coordinate_manager.h"
#include "kernels/common/lowp_round.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

using namespace leseg;
using namespace leseg::kernels;

TEST(SparseConvTcMath, Spread3IsBitInterleaveExhaustive) {
  for (uint32_t v = 0; v < 65536; ++v) {
    uint64_t ref = 0;
    for (int b = 0; b < 16; ++b) ref |= uint64_t((v >> b) & 1u) << (3 * b);
    ASSERT_EQ(tc::spread3_16(v), ref) << v;
  }
}

TEST(SparseConvTcMath, MortonKeyOrderAndStride) {
  // x lowest, then y, then z; batch above all; stride divides first; negative coordinates floor
  EXPECT_EQ(tc::morton_key(0, 1, 0, 0, 1), 1u);
  EXPECT_EQ(tc::morton_key(0, 0, 1, 0, 1), 2u);
  EXPECT_EQ(tc::morton_key(0, 0, 0, 1, 1), 4u);
  EXPECT_EQ(tc::morton_key(0, 4, 4, 4, 4), 7u);
  EXPECT_EQ(tc::morton_key(1, 0, 0, 0, 1), uint64_t(1) << 48);
  EXPECT_EQ(tc::morton_key(0, -2, 0, 0, 2), tc::morton_key(0, -1, 0, 0, 1));
  // a 2x2x2 cube is contiguous in the order
  std::vector<uint64_t> keys;
  for (int z = 0; z < 4; ++z)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) keys.push_back(tc::morton_key(0, x, y, z, 1));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys.front(), 0u);
  EXPECT_EQ(keys.back(), 63u);
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());  // unique
}

namespace {
template <class F>
void expect_bijection(F map, int regs, int rows, int cols, const char* what) {
  std::set<std::pair<int, int>> seen;
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < regs; ++i) {
      int r, c;
      map(lane, i, r, c);
      ASSERT_TRUE(r >= 0 && r < rows && c >= 0 && c < cols) << what << " lane " << lane << " reg " << i;
      EXPECT_TRUE(seen.insert({r, c}).second) << what << ": (" << r << ", " << c << ") twice";
    }
  EXPECT_EQ(int(seen.size()), rows * cols) << what;
}
}  // namespace

TEST(SparseConvTcMath, FragmentMapsAreBijectionsAndMatchPtxTables) {
  expect_bijection(tc::frag_a_k16, 8, 16, 16, "A m16n8k16");
  expect_bijection(tc::frag_b_k16, 4, 16, 8, "B m16n8k16");
  expect_bijection(tc::frag_a_k8, 4, 16, 8, "A m16n8k8 tf32");
  expect_bijection(tc::frag_b_k8, 2, 8, 8, "B m16n8k8 tf32");
  expect_bijection(tc::frag_c, 4, 16, 8, "C m16n8");
  // spot values of the PTX ISA fragment figures (lane 5: groupID 1, threadID_in_group 1)
  int r, c;
  tc::frag_a_k16(5, 0, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(1, 2));
  tc::frag_a_k16(5, 3, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(9, 3));
  tc::frag_a_k16(5, 4, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(1, 10));
  tc::frag_a_k16(5, 7, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(9, 11));
  tc::frag_b_k16(5, 2, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(10, 1));
  tc::frag_a_k8(5, 2, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(1, 5));
  tc::frag_a_k8(5, 1, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(9, 1));
  tc::frag_b_k8(5, 1, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(5, 1));
  tc::frag_c(5, 3, r, c); EXPECT_EQ(std::make_pair(r, c), std::make_pair(9, 3));
  // adjacent halves of one 32-bit A/B register are adjacent columns / rows (what the packed loads assume)
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 8; i += 2) {
      int r0, c0, r1, c1;
      tc::frag_a_k16(lane, i, r0, c0), tc::frag_a_k16(lane, i + 1, r1, c1);
      EXPECT_EQ(r0, r1);
      EXPECT_EQ(c1, c0 + 1);
      EXPECT_EQ(c0 % 2, 0);
    }
}

TEST(SparseConvTcMath, SegmentPlanCoversPairsWithOneSegmentPerOffsetPerBatch) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t V = 1 + int64_t(rng() % 40);
    std::vector<int64_t> off(size_t(V + 1), 0);
    for (int64_t k = 0; k < V; ++k) off[size_t(k + 1)] = off[size_t(k)] + int64_t(rng() % 3 == 0 ? 0 : rng() % 50);
    const int64_t budget = 1 + int64_t(rng() % 60);
    const int64_t n = tc::plan_segments(off.data(), V, budget, nullptr, nullptr);
    std::vector<tc::Segment> seg(static_cast<size_t>(n));
    std::vector<int64_t> bof(static_cast<size_t>(n));
    ASSERT_EQ(tc::plan_segments(off.data(), V, budget, seg.data(), bof.data()), n);
    int64_t next = 0;
    std::map<int64_t, int64_t> rows;
    std::map<int64_t, std::set<int64_t>> ks;
    for (int64_t i = 0; i < n; ++i) {
      const auto& s = seg[size_t(i)];
      EXPECT_EQ(s.begin, next);  // contiguous, in pair order
      EXPECT_GT(s.end, s.begin);
      EXPECT_LE(s.end - s.begin, budget);
      EXPECT_TRUE(s.begin >= off[size_t(s.k)] && s.end <= off[size_t(s.k + 1)]);
      EXPECT_TRUE(ks[bof[size_t(i)]].insert(s.k).second) << "two segments of offset " << s.k << " in one batch";
      rows[bof[size_t(i)]] += s.end - s.begin;
      if (i) {
        EXPECT_TRUE(bof[size_t(i)] == bof[size_t(i - 1)] || bof[size_t(i)] == bof[size_t(i - 1)] + 1);
      }
      next = s.end;
    }
    EXPECT_EQ(next, off[size_t(V)]);
    for (auto& [b, r] : rows) EXPECT_LE(r, budget);
  }
}

namespace {
// A random room-like sparse set: a few planes plus noise, batch 2.
Tensor some_coords(int extent, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::set<std::tuple<int, int, int, int>> s;
  for (int b = 0; b < 2; ++b) {
    for (int x = 0; x < extent; ++x)
      for (int y = 0; y < extent; ++y) {
        if (rng() % 4) s.insert({b, x, y, 0});
        if (rng() % 3 == 0) s.insert({b, x, 0, y});
      }
    for (int i = 0; i < extent * 4; ++i) s.insert({b, int(rng() % extent), int(rng() % extent), int(rng() % extent)});
  }
  std::vector<int32_t> c;
  std::vector<std::tuple<int, int, int, int>> v(s.begin(), s.end());
  std::shuffle(v.begin(), v.end(), rng);  // input order unrelated to space
  for (auto& [b, x, y, z] : v) c.insert(c.end(), {b, x, y, z});
  return Tensor::from_vector<int32_t>(c, Shape{int64_t(v.size()), 4});
}
std::vector<float> small_ints(int64_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = float(int(rng() % 7) - 3);
  return v;
}

// CPU emulation of tc_kernel: the same tile schedule, mask skipping, warp skip, fragment maps and K steps.
// Returns the number of emulated mma instructions.
int64_t emulate_tc(const std::vector<float>& x, const std::vector<float>& w, const float* bias, const int32_t* nbr,
                   const int32_t* order, const uint32_t* masks, int64_t V, int64_t n_rows, int64_t in_ch,
                   int64_t out_ch, bool trans, int KK, std::vector<float>& y) {
  const int words = tc::mask_words(V);
  int64_t mmas = 0;
  auto B = [&](int64_t k, int64_t c, int64_t o) {
    return trans ? w[size_t(k * in_ch * out_ch + o * in_ch + c)] : w[size_t(k * in_ch * out_ch + c * out_ch + o)];
  };
  for (int64_t tile = 0; tile < tc::num_tiles(n_rows); ++tile)
    for (int64_t n0 = 0; n0 < out_ch; n0 += tc::kTileN)
      for (int warp = 0; warp < tc::kWarps; ++warp) {
        float acc[32][4][4] = {};  // [lane][frag][reg]
        int32_t orow[32][2];
        for (int lane = 0; lane < 32; ++lane)
          for (int i = 0; i < 2; ++i) {
            const int64_t r = tile * tc::kTileM + warp * tc::kWarpM + (lane >> 2) + 8 * i;
            orow[lane][i] = r < n_rows ? order[r] : -1;
          }
        for (int64_t k = 0; k < V; ++k) {
          if (!tc::mask_bit(masks, words, tile, k)) continue;
          int32_t src[32][2];
          bool any = false;
          for (int lane = 0; lane < 32; ++lane)
            for (int i = 0; i < 2; ++i) {
              src[lane][i] = orow[lane][i] >= 0 ? nbr[k * n_rows + orow[lane][i]] : -1;
              any |= src[lane][i] >= 0;
            }
          if (!any) continue;
          for (int64_t c0 = 0; c0 < in_ch; c0 += KK)
            for (int j = 0; j < 4; ++j) {
              ++mmas;
              // registers -> the 16 x KK and KK x 8 operands, as the hardware reads them
              float A[16][16] = {}, Bm[16][8] = {};
              for (int lane = 0; lane < 32; ++lane) {
                for (int i = 0; i < (KK == 16 ? 8 : 4); ++i) {
                  int r, c;
                  if (KK == 16) tc::frag_a_k16(lane, i, r, c); else tc::frag_a_k8(lane, i, r, c);
                  const int32_t s = src[lane][r >= 8];
                  const int64_t cc = c0 + c;
                  A[r][c] = (s >= 0 && cc < in_ch) ? x[size_t(int64_t(s) * in_ch + cc)] : 0.f;
                }
                for (int i = 0; i < (KK == 16 ? 4 : 2); ++i) {
                  int kk, n;
                  if (KK == 16) tc::frag_b_k16(lane, i, kk, n); else tc::frag_b_k8(lane, i, kk, n);
                  const int64_t cc = c0 + kk, o = n0 + 8 * j + n;
                  Bm[kk][n] = (cc < in_ch && o < out_ch) ? B(k, cc, o) : 0.f;
                }
              }
              for (int lane = 0; lane < 32; ++lane)
                for (int i = 0; i < 4; ++i) {
                  int r, c;
                  tc::frag_c(lane, i, r, c);
                  float s = 0;
                  for (int kk = 0; kk < KK; ++kk) s += A[r][kk] * Bm[kk][c];
                  acc[lane][j][i] += s;
                }
            }
        }
        for (int lane = 0; lane < 32; ++lane)
          for (int j = 0; j < 4; ++j)
            for (int i = 0; i < 4; ++i) {
              int r, c;
              tc::frag_c(lane, i, r, c);
              const int32_t o = orow[lane][r >= 8];
              const int64_t cg = n0 + 8 * j + c;
              if (o < 0 || cg >= out_ch) continue;
              y[size_t(int64_t(o) * out_ch + cg)] = acc[lane][j][i] + (bias ? bias[cg] : 0.f);
            }
      }
  return mmas;
}
}  // namespace

TEST(SparseConvTcMath, TileLoopEmulationReproducesCpuConv) {
  Tensor coords = some_coords(20, 5);
  SparseTensor st(coords, Tensor::zeros(Shape{coords.size(0), 1}));
  auto mgr = st.manager();
  for (int32_t out_stride : {1, 2})
    for (int KK : {16, 8}) {
      SCOPED_TRACE("out stride " + std::to_string(out_stride) + " KK " + std::to_string(KK));
      const int K = out_stride == 1 ? 3 : 2;
      auto km = mgr->kernel_map(1, out_stride, K, 1);
      const auto in_set = mgr->find(1), out_set = mgr->find(out_stride);
      ConvMap m = km->conv_map(false, true);
      const int64_t V = m.volume, n_in = in_set->size(), n_out = out_set->size(), ci = 19, co = 45;
      auto x = small_ints(n_in * ci, 1), w = small_ints(V * ci * co, 2), b = small_ints(co, 3),
           gy = small_ints(n_out * co, 4);
      // reference: the CPU conv
      std::vector<float> y_ref(size_t(n_out * co)), gx_ref(size_t(n_in * ci));
      std::vector<float> ws(size_t(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, ci, co))));
      sparse_conv_forward_cpu<float>(x.data(), w.data(), b.data(), m, n_in, n_out, ci, co, y_ref.data(), ws.data());
      sparse_conv_backward_cpu<float>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, gx_ref.data(), nullptr,
                                      nullptr, ws.data());
      // Morton orders and masks (CPU twins), then the emulated tile loop
      std::vector<int32_t> oo(static_cast<size_t>(n_out)), oi(static_cast<size_t>(n_in));
      morton_order_cpu(out_set->coords.data<int32_t>(), n_out, out_stride, oo.data());
      morton_order_cpu(in_set->coords.data<int32_t>(), n_in, 1, oi.data());
      std::vector<int32_t> sorted = oo;
      std::sort(sorted.begin(), sorted.end());
      for (int64_t i = 0; i < n_out; ++i) ASSERT_EQ(sorted[size_t(i)], i);  // a permutation
      std::vector<uint32_t> mo(size_t(tc::num_tiles(n_out) * tc::mask_words(V))),
          mi(size_t(tc::num_tiles(n_in) * tc::mask_words(V)));
      tile_masks_cpu(m.nbr_out, oo.data(), n_out, V, mo.data());
      tile_masks_cpu(m.nbr_in, oi.data(), n_in, V, mi.data());
      std::vector<float> y(size_t(n_out * co), -999.f), gx(size_t(n_in * ci), -999.f);
      const int64_t mma_morton =
          emulate_tc(x, w, b.data(), m.nbr_out, oo.data(), mo.data(), V, n_out, ci, co, false, KK, y);
      emulate_tc(gy, w, nullptr, m.nbr_in, oi.data(), mi.data(), V, n_in, co, ci, true, KK, gx);
      EXPECT_EQ(y, y_ref);  // integer inputs: exact in any summation order
      EXPECT_EQ(gx, gx_ref);
      // the point of the reordering: fewer (tile, offset) pairs survive the mask than in the input order
      std::vector<int32_t> ident(static_cast<size_t>(n_out));
      std::iota(ident.begin(), ident.end(), 0);
      std::vector<uint32_t> m_id(mo.size());
      tile_masks_cpu(m.nbr_out, ident.data(), n_out, V, m_id.data());
      std::vector<float> y2(size_t(n_out * co));
      const int64_t mma_ident = emulate_tc(x, w, b.data(), m.nbr_out, ident.data(), m_id.data(), V, n_out, ci, co,
                                           false, KK, y2);
      EXPECT_EQ(y2, y_ref);
      EXPECT_LT(mma_morton, mma_ident) << "Morton order should let tiles skip more offsets than the input order";
    }
}

TEST(SparseConvTcMath, TileMasksMarkExactlyTheUsedOffsets) {
  std::mt19937 rng(9);
  const int64_t n = 200, V = 40;  // two mask words
  std::vector<int32_t> nbr(size_t(V * n)), order(static_cast<size_t>(n));
  for (auto& v : nbr) v = rng() % 5 == 0 ? int32_t(rng() % 100) : -1;
  for (int64_t k = 33; k < V; ++k)
    for (int64_t j = 0; j < n; ++j) nbr[size_t(k * n + j)] = -1;  // empty offsets in word 1
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<uint32_t> masks(size_t(tc::num_tiles(n) * tc::mask_words(V)));
  tile_masks_cpu(nbr.data(), order.data(), n, V, masks.data());
  for (int64_t t = 0; t < tc::num_tiles(n); ++t)
    for (int64_t k = 0; k < V; ++k) {
      bool used = false;
      for (int64_t r = t * tc::kTileM; r < std::min<int64_t>(n, (t + 1) * tc::kTileM); ++r)
        used |= nbr[size_t(k * n + order[size_t(r)])] >= 0;
      EXPECT_EQ(tc::mask_bit(masks.data(), tc::mask_words(V), t, k), used) << t << " " << k;
    }
}

TEST(SparseConvTcMath, LowPrecisionTwinsRoundWhereTheGpuRounds) {
  Tensor coords = some_coords(8, 2);
  SparseTensor st(coords, Tensor::zeros(Shape{coords.size(0), 1}));
  auto km = st.manager()->kernel_map(1, 1, 3, 1);
  ConvMap m = km->conv_map(false, false);
  const int64_t n = coords.size(0), ci = 5, co = 3;
  std::mt19937 rng(4);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(n * ci)), w(size_t(27 * ci * co));
  for (auto& v : x) v = nd(rng);
  for (auto& v : w) v = nd(rng);
  std::vector<bf16_t> xb(x.size()), wb(w.size()), yb(size_t(n * co));
  for (size_t i = 0; i < x.size(); ++i) xb[i] = float_to_bf16(x[i]);
  for (size_t i = 0; i < w.size(); ++i) wb[i] = float_to_bf16(w[i]);
  sparse_conv_forward_lowp_cpu<bf16_t>(xb.data(), wb.data(), nullptr, m, n, n, ci, co, yb.data());
  // the f32 conv on the bf16 values, rounded once
  std::vector<float> xr(x.size()), wr(w.size()), yr(size_t(n * co));
  for (size_t i = 0; i < x.size(); ++i) xr[i] = bf16_to_float(xb[i]);
  for (size_t i = 0; i < w.size(); ++i) wr[i] = bf16_to_float(wb[i]);
  std::vector<float> ws(size_t(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, ci, co))));
  sparse_conv_forward_cpu<float>(xr.data(), wr.data(), nullptr, m, n, n, ci, co, yr.data(), ws.data());
  int differs_from_f32 = 0;
  std::vector<float> yf(size_t(n * co));
  sparse_conv_forward_cpu<float>(x.data(), w.data(), nullptr, m, n, n, ci, co, yf.data(), ws.data());
  for (size_t i = 0; i < yr.size(); ++i) {
    EXPECT_EQ(yb[i].bits, float_to_bf16(yr[i]).bits) << i;
    differs_from_f32 += float_to_bf16(yf[i]).bits != yb[i].bits;
  }
  EXPECT_GT(differs_from_f32, 0) << "bf16 inputs must change some outputs (the test would not see a missing cast)";
  // TF32: the twin equals the f32 conv on round_to_tf32 inputs and differs from plain f32
  std::vector<float> yt(size_t(n * co)), xt(x.size()), wt(w.size()), yt_ref(size_t(n * co));
  sparse_conv_forward_tf32_cpu(x.data(), w.data(), nullptr, m, n, n, ci, co, yt.data());
  for (size_t i = 0; i < x.size(); ++i) xt[i] = round_to_tf32(x[i]);
  for (size_t i = 0; i < w.size(); ++i) wt[i] = round_to_tf32(w[i]);
  sparse_conv_forward_cpu<float>(xt.data(), wt.data(), nullptr, m, n, n, ci, co, yt_ref.data(), ws.data());
  EXPECT_EQ(yt, yt_ref);
  EXPECT_NE(yt, yf);
}
