// SPDX-License-Identifier: Apache-2.0
// The sparse-conv kernels' own source (kernels/sparse_conv/sparse_conv_tc_kernels.cuh), run on the CPU by the warp
// emulator (tests/support/warp_emu.h: threads as fibers, real barriers around __syncthreads, __any_sync and
// mma.sync, whose m16n8k16 bf16/f16 and m16n8k8 tf32 products are formed from the PTX ISA fragment layouts; cvt.rna
// emulated), against the CPU twins (sparse_conv_{forward,backward}_cpu, *_lowp_cpu, *_tf32_cpu, morton_order_cpu,
// tile_masks_cpu), with the GPU parity test's tolerance (tests/engine/sparse/sparse_conv_precision_gpu_test.cpp):
// bit equality, on inputs whose products and partial sums are exact in f32 in any order, so that both sides differ
// only by the one rounding they both do at the store. Two input kinds: integers in [-2, 2] (the parity test's), and
// "fine" values that the rounding sees: bf16 / f16 x and gy of 8 significant bits (outputs of far more bits, rounded
// to the half at the store), f32 x and gy of 12 significant bits (cvt.rna to tf32's 11 drops one bit, a tie half the
// time: round-to-nearest-even or truncation would differ from the twin's round_to_tf32).
// Cases: ~300-voxel sets (several 64-row tiles and a tail); submanifold 3^3 with empty offsets (the centre among
// them), strided 2^3 (down) and its transpose (up), 5^3 (four mask words, the second empty), a map without pairs;
// channels with tails of the K steps (16 / 8), of the 32-channel blocks and of the n8 fragments, odd C_in (unpaired
// loads); bf16, f16 and TF32 (the grouped kernels also f32 and f64); bias, ReLU.
// The launch sequences of sparse_conv_tc_cuda.cu:
//   support data   morton_keys_kernel (+ a stable sort standing in for CUB's) and tile_masks_kernel
//   TensorCoreImplicitGemm  forward tc_kernel<T, false> (bias, optional ReLU), input gradient tc_kernel<T, true> over
//                  the input-stationary map; weight / bias gradient = the GroupedGemm backward below
//   GroupedGemm    pair_pos_kernel, gather_kernel (uint4 / u32 / element paths), ptr_kernel, the GEMMs, reduce_kernel
//                  (VEC 4 / 1; first / middle / last batch), convert_kernel, bias_partial_kernel + bias_final_kernel
// Not emulated: the cuBLAS GEMMs (a column-major f32 / f64 GEMM over the pointer arrays that ptr_kernel wrote stands
// in for cublasGemmGroupedBatchedEx; TF32 on: inputs through cvt.rna), CUB's radix sort, the hardware's accumulation
// order inside an mma, register limits, the launchers' own checks (tests/engine/sparse: *Gpu tests, on a GPU).
#include <gtest/gtest.h>

// Built with -Wno-unknown-pragmas -Wno-sign-compare (CMakeLists.txt): #pragma unroll, unsigned threadIdx.
#include "tests/support/warp_emu.h"
#include "kernels/sparse_conv/sparse_conv_tc_kernels.cuh"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common/lowp_round.h"
#include "kernels/sparse_conv/sparse_conv_tc.h"

namespace leseg::kernels {
namespace {

unsigned grid_for(int64_t n, int threads) { return unsigned(std::max<int64_t>(1, (n + threads - 1) / threads)); }

// ---------------------------------------------------------------- coordinate sets and kernel maps
struct Coords {
  std::vector<int32_t> c;  // (n, 4) b, x, y, z
  int32_t stride = 1;
  int64_t n() const { return int64_t(c.size() / 4); }
};
// Batch 2: a plane with holes, a wall strip and scattered points, in shuffled order.
Coords random_set(int extent, uint32_t seed) {
  std::mt19937 rng(seed);
  std::set<std::array<int32_t, 4>> s;
  for (int b = 0; b < 2; ++b) {
    for (int x = 0; x < extent; ++x)
      for (int y = 0; y < extent; ++y) {
        if (rng() % 4 != 0) s.insert({b, x, y, 0});
        if (y < 3 && rng() % 3 == 0) s.insert({b, x, 0, y + 1});
      }
    for (int i = 0; i < extent * 3; ++i)
      s.insert({b, int32_t(rng() % extent), int32_t(rng() % extent), int32_t(rng() % extent)});
  }
  std::vector<std::array<int32_t, 4>> v(s.begin(), s.end());
  std::shuffle(v.begin(), v.end(), rng);
  Coords out;
  for (auto& p : v) out.c.insert(out.c.end(), p.begin(), p.end());
  return out;
}
// The set at twice the stride: unique floor(c / 2s) * 2s.
Coords downsample(const Coords& in) {
  const int32_t s2 = 2 * in.stride;
  std::set<std::array<int32_t, 4>> s;
  for (int64_t i = 0; i < in.n(); ++i) {
    const int32_t* p = &in.c[size_t(4 * i)];
    s.insert({p[0], p[1] / s2 * s2, p[2] / s2 * s2, p[3] / s2 * s2});  // coordinates are >= 0 here
  }
  Coords out;
  out.stride = s2;
  for (auto& p : s) out.c.insert(out.c.end(), p.begin(), p.end());
  return out;
}

struct Map {
  int64_t n_in = 0, n_out = 0, V = 0;
  std::vector<int32_t> in_idx, out_idx, nbr_out, nbr_in;
  std::vector<int64_t> offsets;
  const Coords* cin = nullptr;
  const Coords* cout = nullptr;
};
// Pairs (i, j, k) with in[i] = out[j] + d_k (stride-scaled offsets), offsets whose keep(k) is false left empty.
template <class Keep>
Map build_map(const Coords& in, const Coords& out, const std::vector<std::array<int32_t, 3>>& d, Keep keep) {
  Map m;
  m.n_in = in.n(), m.n_out = out.n(), m.V = int64_t(d.size());
  m.cin = &in, m.cout = &out;
  std::map<std::array<int32_t, 4>, int32_t> at;
  for (int64_t i = 0; i < in.n(); ++i)
    at[{in.c[size_t(4 * i)], in.c[size_t(4 * i + 1)], in.c[size_t(4 * i + 2)], in.c[size_t(4 * i + 3)]}] = int32_t(i);
  m.nbr_out.assign(size_t(m.V * m.n_out), -1);
  m.nbr_in.assign(size_t(m.V * m.n_in), -1);
  m.offsets.push_back(0);
  for (int64_t k = 0; k < m.V; ++k) {
    if (keep(k))
      for (int64_t j = 0; j < out.n(); ++j) {
        const int32_t* p = &out.c[size_t(4 * j)];
        auto it = at.find({p[0], p[1] + d[size_t(k)][0], p[2] + d[size_t(k)][1], p[3] + d[size_t(k)][2]});
        if (it == at.end()) continue;
        m.in_idx.push_back(it->second);
        m.out_idx.push_back(int32_t(j));
        m.nbr_out[size_t(k * m.n_out + j)] = it->second;
        m.nbr_in[size_t(k * m.n_in + it->second)] = int32_t(j);
      }
    m.offsets.push_back(int64_t(m.in_idx.size()));
  }
  return m;
}
Map transposed(const Map& m) {  // the up-sampling conv: the same pairs read with in and out swapped
  Map t = m;
  std::swap(t.n_in, t.n_out);
  std::swap(t.in_idx, t.out_idx);
  std::swap(t.nbr_in, t.nbr_out);
  std::swap(t.cin, t.cout);
  return t;
}
std::vector<std::array<int32_t, 3>> cube(int K, int32_t step, int32_t lo) {
  std::vector<std::array<int32_t, 3>> d;
  for (int z = 0; z < K; ++z)
    for (int y = 0; y < K; ++y)
      for (int x = 0; x < K; ++x) d.push_back({(lo + x) * step, (lo + y) * step, (lo + z) * step});
  return d;
}

// Morton order through morton_keys_kernel (+ a stable sort of the keys, CUB's radix sort being stable), checked
// against morton_order_cpu; the tile masks through tile_masks_kernel, checked against tile_masks_cpu.
struct TcSupport {
  std::vector<int32_t> order;
  std::vector<uint32_t> masks;
};
TcSupport tc_support(const Coords& set, const std::vector<int32_t>& nbr, int64_t V) {
  const int64_t n = set.n();
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  std::vector<int32_t> ids(size_t(n), -1);
  warp_emu::run_grid_simple(grid_for(n, 256), 256,
                            [&] { morton_keys_kernel(set.c.data(), n, set.stride, keys.data(), ids.data()); });
  TcSupport s;
  s.order = ids;
  std::stable_sort(s.order.begin(), s.order.end(),
                   [&](int32_t a, int32_t b) { return keys[size_t(a)] < keys[size_t(b)]; });
  std::vector<int32_t> want(static_cast<size_t>(n));
  morton_order_cpu(set.c.data(), n, set.stride, want.data());
  EXPECT_EQ(s.order, want) << "Morton order";
  const int64_t tiles = tc::num_tiles(n);
  const int words = tc::mask_words(V);
  s.masks.assign(size_t(tiles * words), 0xdeadbeefu);
  warp_emu::run_grid_simple(grid_for(tiles * words, 128), 128, [&] {
    tile_masks_kernel(nbr.data(), s.order.data(), n, V, tiles, words, s.masks.data());
  });
  std::vector<uint32_t> mw(s.masks.size());
  tile_masks_cpu(nbr.data(), s.order.data(), n, V, mw.data());
  EXPECT_EQ(s.masks, mw) << "tile masks";
  return s;
}

// ---------------------------------------------------------------- values
template <class T>
T cast(double v) {
  if constexpr (std::is_same_v<T, bf16_t>) return float_to_bf16(float(v));
  else if constexpr (std::is_same_v<T, f16_t>) return float_to_f16(float(v));
  else return T(v);
}
template <class T>
double widen(T v) {
  if constexpr (std::is_same_v<T, bf16_t>) return bf16_to_float(v);
  else if constexpr (std::is_same_v<T, f16_t>) return f16_to_float(v);
  else return double(v);
}
// Integers in [-2, 2]; or fine values: halves n / 64 (|n| <= 255), f32 / f64 +-n / 256 (n in [2048, 4096): 12 bits).
template <class T>
std::vector<T> values(int64_t n, uint32_t seed, bool fine) {
  std::mt19937 rng(seed);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) {
    if (!fine) e = cast<T>(double(int(rng() % 5) - 2));
    else if constexpr (kIsHalf<T>) e = cast<T>(double(int(rng() % 511) - 255) / 64);
    else e = cast<T>(double(2048 + int(rng() % 2048)) * (rng() % 2 ? 1 : -1) / 256);
  }
  return v;
}
// Bit equality of the values (as the parity test: -0 == +0), and not all zero unless `zero_ok` (a map without pairs).
template <class T>
int64_t expect_same(const std::vector<T>& got, const std::vector<T>& want, const std::string& what,
                    bool zero_ok = false) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int64_t bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const double a = widen(got[i]), b = widen(want[i]);
    nonzero |= b != 0;
    if (a != b && ++bad <= 3) ADD_FAILURE() << what << "[" << i << "]: emulated " << a << ", twin " << b;
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(want.empty() || nonzero || zero_ok) << what << ": all-zero reference";
  return bad;
}

// ---------------------------------------------------------------- the CPU twins
template <class T>
void twin_forward(const std::vector<T>& x, const std::vector<T>& w, const T* bias, const ConvMap& m, int64_t n_in,
                  int64_t n_out, int64_t ci, int64_t co, bool tf32, std::vector<T>& y) {
  y.assign(size_t(n_out * co), T{});
  if constexpr (kIsHalf<T>) {
    sparse_conv_forward_lowp_cpu<T>(x.data(), w.data(), bias, m, n_in, n_out, ci, co, y.data());
  } else if (tf32) {
    if constexpr (std::is_same_v<T, float>)
      sparse_conv_forward_tf32_cpu(x.data(), w.data(), bias, m, n_in, n_out, ci, co, y.data());
  } else {
    std::vector<T> ws(size_t(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, ci, co))));
    sparse_conv_forward_cpu<T>(x.data(), w.data(), bias, m, n_in, n_out, ci, co, y.data(), ws.data());
  }
}
template <class T>
void twin_backward(const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& gy, const ConvMap& m,
                   int64_t n_in, int64_t n_out, int64_t ci, int64_t co, bool tf32, std::vector<T>& gx,
                   std::vector<T>& gw, std::vector<T>& gb) {
  gx.assign(size_t(n_in * ci), T{}), gw.assign(size_t(m.volume * ci * co), T{}), gb.assign(size_t(co), T{});
  if constexpr (kIsHalf<T>) {
    sparse_conv_backward_lowp_cpu<T>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, gx.data(), gw.data(),
                                     gb.data());
  } else if (tf32) {
    if constexpr (std::is_same_v<T, float>)
      sparse_conv_backward_tf32_cpu(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, gx.data(), gw.data(),
                                    gb.data());
  } else {
    std::vector<T> ws(size_t(std::max<int64_t>(1, sparse_conv_cpu_workspace_elems(m, ci, co))));
    sparse_conv_backward_cpu<T>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, gx.data(), gw.data(),
                                gb.data(), ws.data());
  }
}

// ---------------------------------------------------------------- the GroupedGemm launch sequence
// Column-major C (m x n) = op(A) op(B) + beta C, accumulated in Acc in k order: the stand-in for one problem of
// cublasGemmGroupedBatchedEx / cublasGemmEx (alpha = 1); tf32: the inputs through cvt.rna.
template <class T, class Acc>
void gemm(bool ta, bool tb, int m, int n, int k, const T* A, int lda, const T* B, int ldb, float beta, Acc* C, int ldc,
          bool tf32) {
  auto in = [&](T v) -> Acc {
    if constexpr (std::is_same_v<T, float>)
      if (tf32) return warp_emu::tf32_value(warp_emu::cvt_rna_tf32(v));
    return Acc(widen(v));
  };
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      Acc s = 0;
      for (int l = 0; l < k; ++l) s += in(ta ? A[l + int64_t(i) * lda] : A[i + int64_t(l) * lda]) *
                                       in(tb ? B[j + int64_t(l) * ldb] : B[l + int64_t(j) * ldb]);
      Acc& c = C[i + int64_t(j) * ldc];
      c = beta == 0.f ? s : s + Acc(beta) * c;
    }
}
struct Problem {
  bool ta, tb;
  int m, n, k, lda, ldb, ldc;
  float beta;
};
struct BatchPlan {
  int64_t p_begin = 0, p_end = 0;
  int32_t k_first = 0, k_last = -1;
  std::vector<tc::Segment> seg;
};
// plan_batches of the .cu, from tc::plan_segments.
std::vector<BatchPlan> plan(const ConvMap& m, int64_t budget) {
  const int64_t n = tc::plan_segments(m.offsets, m.volume, budget, nullptr, nullptr);
  std::vector<tc::Segment> segs(static_cast<size_t>(n));
  std::vector<int64_t> bof(static_cast<size_t>(n));
  tc::plan_segments(m.offsets, m.volume, budget, segs.data(), bof.data());
  std::vector<BatchPlan> out;
  for (int64_t i = 0; i < n; ++i) {
    if (out.empty() || int64_t(out.size()) - 1 != bof[size_t(i)]) {
      out.emplace_back();
      out.back().p_begin = segs[size_t(i)].begin;
      out.back().k_first = int32_t(segs[size_t(i)].k);
    }
    out.back().seg.push_back(segs[size_t(i)]);
    out.back().p_end = segs[size_t(i)].end;
    out.back().k_last = int32_t(segs[size_t(i)].k);
  }
  return out;
}
int64_t launcher_budget(int64_t c_max, int64_t P) {  // batch_rows of the .cu
  const int64_t r = std::clamp<int64_t>((int64_t(1) << 26) / std::max<int64_t>(1, c_max), 4096, int64_t(1) << 20);
  return std::max<int64_t>(1, std::min(r, P));
}
// batch_gemm of the .cu: ptr_kernel writes the pointer arrays, the stand-in GEMM runs on them.
template <class T, class Acc>
void batch_gemm(const BatchPlan& b, const Problem& proto, bool per_seg_n, bool per_seg_k, const char* ba, int64_t ak,
                int64_t ar, const char* bb, int64_t bk, int64_t br, char* bc, int64_t ck, int64_t cr, bool tf32) {
  PtrDesc d{};
  d.n = int(b.seg.size());
  for (size_t i = 0; i < b.seg.size(); ++i) d.s[i] = PtrSeg{int32_t(b.seg[i].k), int32_t(b.seg[i].begin - b.p_begin)};
  std::vector<const void*> A(kMaxSegs, nullptr), B(kMaxSegs, nullptr);
  std::vector<void*> C(kMaxSegs, nullptr);
  warp_emu::run_grid_simple(1, kMaxSegs, [&] {
    ptr_kernel(d, ba, ak, ar, bb, bk, br, bc, ck, cr, A.data(), B.data(), C.data());
  });
  for (size_t i = 0; i < b.seg.size(); ++i) {
    const int rows = int(b.seg[i].end - b.seg[i].begin);
    Problem q = proto;
    if (per_seg_n) q.n = rows;
    if (per_seg_k) q.k = rows;
    gemm<T, Acc>(q.ta, q.tb, q.m, q.n, q.k, static_cast<const T*>(A[i]), q.lda, static_cast<const T*>(B[i]), q.ldb,
                 q.beta, static_cast<Acc*>(C[i]), q.ldc, tf32);
  }
  for (size_t i = b.seg.size(); i < size_t(kMaxSegs); ++i) EXPECT_EQ(A[i], nullptr) << "ptr_kernel wrote past d.n";
}
template <class T>
void gather(const T* src, const int32_t* idx, int64_t rows, int64_t C, T* dst, int* path) {
  if (rows == 0 || C == 0) return;
  const size_t bytes = size_t(C) * sizeof(T);
  const auto s = reinterpret_cast<uintptr_t>(src), d = reinterpret_cast<uintptr_t>(dst);
  const bool a16 = bytes % 16 == 0 && s % 16 == 0 && d % 16 == 0, a4 = bytes % 4 == 0 && s % 4 == 0 && d % 4 == 0;
  if (a16) {
    const int64_t u = int64_t(bytes / 16);
    warp_emu::run_grid_simple(grid_for(rows * u, 256), 256, [&] {
      gather_kernel<uint4>(reinterpret_cast<const uint4*>(src), idx, rows, u, reinterpret_cast<uint4*>(dst));
    });
    path[0]++;
  } else if (a4) {
    const int64_t u = int64_t(bytes / 4);
    warp_emu::run_grid_simple(grid_for(rows * u, 256), 256, [&] {
      gather_kernel<uint32_t>(reinterpret_cast<const uint32_t*>(src), idx, rows, u, reinterpret_cast<uint32_t*>(dst));
    });
    path[1]++;
  } else {
    warp_emu::run_grid_simple(grid_for(rows * C, 256), 256, [&] { gather_kernel<T>(src, idx, rows, C, dst); });
    path[2]++;
  }
}
template <class T>
void reduce(const AccOf<T>* prod, const int32_t* pos, int64_t n, int64_t C, int32_t k_first, int32_t k_last,
            int64_t p_begin, int64_t p_end, const T* bias, bool first, bool last, AccOf<T>* acc, T* out, int* vec4) {
  if (n == 0 || C == 0) return;
  const bool vec = std::is_same_v<AccOf<T>, float> && C % 4 == 0;
  const int64_t work = n * (vec ? C / 4 : C);
  if (vec) {
    warp_emu::run_grid_simple(grid_for(work, 256), 256, [&] {
      reduce_kernel<T, 4>(prod, pos, n, C, k_first, k_last, p_begin, p_end, bias, first, last, acc, out);
    });
    ++*vec4;
  } else {
    warp_emu::run_grid_simple(grid_for(work, 256), 256, [&] {
      reduce_kernel<T, 1>(prod, pos, n, C, k_first, k_last, p_begin, p_end, bias, first, last, acc, out);
    });
  }
}
struct Coverage {
  int gather[3] = {0, 0, 0};  // uint4, u32, element
  int vec4 = 0, batches = 0, middle_batches = 0;
};
// grouped_pass of the .cu: out (n_dst, c_dst) = sum over pairs of src[src_idx] op(W_k), reduced through the pair
// positions of dst_idx. trans_w: W_k^T (the input gradient).
template <class T>
void grouped_pass(const T* src, const int32_t* src_idx, const int32_t* dst_idx, const T* w, const T* bias,
                  const ConvMap& m, int64_t n_dst, int64_t c_src, int64_t c_dst, int64_t c_in, int64_t c_out,
                  bool trans_w, T* out, int64_t budget, bool tf32, Coverage& cov) {
  using A = AccOf<T>;
  const int64_t P = m.offsets[m.volume];
  std::vector<int32_t> pos(size_t(m.volume * n_dst), -1);  // cudaMemsetAsync 0xff
  if (P > 0) {
    OffsetTable t{};
    t.volume = int(m.volume);
    for (int64_t k = 0; k <= m.volume; ++k) t.off[k] = m.offsets[k];
    warp_emu::run_grid_simple(grid_for(P, 256), 256, [&] { pair_pos_kernel(dst_idx, P, n_dst, t, pos.data()); });
  }
  const int64_t rows = budget, cmax = std::max(c_in, c_out);
  std::vector<T> xg(size_t(rows * cmax));
  std::vector<A> prod(size_t(rows * cmax), A(-777)), accbuf(kIsHalf<T> ? size_t(n_dst * c_dst) : 0);
  A* acc = kIsHalf<T> ? accbuf.data() : reinterpret_cast<A*>(out);
  const auto batches = plan(m, budget);
  if (batches.empty()) {
    reduce<T>(prod.data(), pos.data(), n_dst, c_dst, 0, -1, 0, 0, bias, true, true, acc, out, &cov.vec4);
    return;
  }
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    const BatchPlan& b = batches[bi];
    gather(src, src_idx + b.p_begin, b.p_end - b.p_begin, c_src, xg.data(), cov.gather);
    const char* wb = reinterpret_cast<const char*>(w);
    const char* xb = reinterpret_cast<const char*>(xg.data());
    char* pb = reinterpret_cast<char*>(prod.data());
    if (!trans_w)
      batch_gemm<T, A>(b, Problem{false, false, int(c_out), 0, int(c_in), int(c_out), int(c_in), int(c_out), 0.f}, true,
                       false, wb, int64_t(c_in * c_out * sizeof(T)), 0, xb, 0, int64_t(c_in * sizeof(T)), pb, 0,
                       int64_t(c_out * sizeof(A)), tf32);
    else
      batch_gemm<T, A>(b, Problem{true, false, int(c_in), 0, int(c_out), int(c_out), int(c_out), int(c_in), 0.f}, true,
                       false, wb, int64_t(c_in * c_out * sizeof(T)), 0, xb, 0, int64_t(c_out * sizeof(T)), pb, 0,
                       int64_t(c_in * sizeof(A)), tf32);
    reduce<T>(prod.data(), pos.data(), n_dst, c_dst, b.k_first, b.k_last, b.p_begin, b.p_end, bias, bi == 0,
              bi + 1 == batches.size(), acc, out, &cov.vec4);
    ++cov.batches;
    cov.middle_batches += bi > 0 && bi + 1 < batches.size();
  }
}
// bias_grad of the .cu.
template <class T>
void bias_grad(const T* gy, int64_t n, int64_t C, T* gb) {
  if (C == 0) return;
  const int blocks = int(std::clamp<int64_t>((n + kBiasRowsPerBlock - 1) / kBiasRowsPerBlock, 1, 128));
  std::vector<AccOf<T>> partial(size_t(blocks * C), AccOf<T>(-555));
  warp_emu::run_grid_2d(unsigned((C + 31) / 32), unsigned(blocks), 32, 8,
                        [&] { bias_partial_kernel<T>(gy, n, C, partial.data()); });
  warp_emu::run_grid_simple(unsigned((C + 255) / 256), 256,
                            [&] { bias_final_kernel<T>(partial.data(), blocks, n, C, gb); });
}
// grouped_backward of the .cu (gx through the grouped pass unless null).
template <class T>
void grouped_backward(const T* x, const T* w, const T* gy, const ConvMap& m, int64_t n_in, int64_t n_out,
                      int64_t c_in, int64_t c_out, T* gx, T* gw, T* gb, int64_t budget, bool tf32, Coverage& cov) {
  using A = AccOf<T>;
  if (gb) bias_grad<T>(gy, n_out, c_out, gb);
  if (gx && n_in > 0 && c_in > 0)
    grouped_pass<T>(gy, m.out_idx, m.in_idx, w, static_cast<const T*>(nullptr), m, n_in, c_out, c_in, c_in, c_out,
                    true, gx, budget, tf32, cov);
  if (!gw) return;
  const int64_t wn = m.volume * c_in * c_out;
  std::vector<A> gwbuf(kIsHalf<T> ? size_t(wn) : 0);
  A* gwacc = kIsHalf<T> ? gwbuf.data() : reinterpret_cast<A*>(gw);
  std::fill(gwacc, gwacc + wn, A(0));  // cudaMemsetAsync
  const int64_t P = m.offsets[m.volume];
  if (P > 0 && c_in > 0 && c_out > 0) {
    std::vector<T> xg(size_t(budget * std::max(c_in, c_out))), gg(xg.size());
    for (const BatchPlan& b : plan(m, budget)) {
      gather(x, m.in_idx + b.p_begin, b.p_end - b.p_begin, c_in, xg.data(), cov.gather);
      gather(gy, m.out_idx + b.p_begin, b.p_end - b.p_begin, c_out, gg.data(), cov.gather);
      batch_gemm<T, A>(b, Problem{false, true, int(c_out), int(c_in), 0, int(c_out), int(c_in), int(c_out), 1.f}, false,
                       true, reinterpret_cast<const char*>(gg.data()), 0, int64_t(c_out * sizeof(T)),
                       reinterpret_cast<const char*>(xg.data()), 0, int64_t(c_in * sizeof(T)),
                       reinterpret_cast<char*>(gwacc), int64_t(c_in * c_out * sizeof(A)), 0, tf32);
    }
  }
  if constexpr (kIsHalf<T>)
    warp_emu::run_grid_simple(grid_for(wn, 256), 256, [&] { convert_kernel<float, T>(gwacc, wn, gw); });
}

// ---------------------------------------------------------------- the cases
struct Case {
  const char* name;
  int64_t ci, co;
  bool fine, bias, relu;
  int64_t small_budget;  // GroupedGemm: 0 = the launcher's batch rows only, else also this many rows per batch
};
ConvMap view(const Map& m) {
  ConvMap c;
  c.in_idx = m.in_idx.empty() ? nullptr : m.in_idx.data();
  c.out_idx = m.out_idx.empty() ? nullptr : m.out_idx.data();
  c.offsets = m.offsets.data();
  c.volume = m.V;
  c.nbr_out = m.nbr_out.data();
  c.nbr_in = m.nbr_in.data();
  return c;
}
template <class T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bf16_t>) return "bf16";
  else if constexpr (std::is_same_v<T, f16_t>) return "f16";
  else if constexpr (std::is_same_v<T, float>) return "tf32";
  else return "f64";
}

// TensorCoreImplicitGemm: forward and input gradient through tc_kernel, weight and bias gradients through the
// GroupedGemm backward (tc_backward of the .cu). T = float: TF32.
template <class T>
void run_tensor_core(const Map& mp, const Case& c, uint32_t seed) {
  const std::string label = type_name<T>() + " " + c.name + " C " + std::to_string(c.ci) + "->" + std::to_string(c.co) +
                            (c.fine ? " fine" : " ints") + (c.relu ? " relu" : "");
  SCOPED_TRACE(label);
  const int64_t n_in = mp.n_in, n_out = mp.n_out, V = mp.V, ci = c.ci, co = c.co;
  const TcSupport so = tc_support(*mp.cout, mp.nbr_out, V), si = tc_support(*mp.cin, mp.nbr_in, V);
  int64_t set = 0;
  for (uint32_t word : so.masks) set += __builtin_popcount(word);
  std::printf("  %s: %lld of %lld (tile, offset) pairs of the forward set, %d mask words\n", label.c_str(),
              (long long)set, (long long)(tc::num_tiles(n_out) * V), tc::mask_words(V));
  ConvMap m = view(mp);
  m.order_out = so.order.data(), m.order_in = si.order.data();
  m.tile_mask_out = so.masks.data(), m.tile_mask_in = si.masks.data();
  const std::vector<T> x = values<T>(n_in * ci, seed, c.fine), w = values<T>(V * ci * co, seed + 1, false),
                       b = values<T>(co, seed + 2, false), gy = values<T>(n_out * co, seed + 3, c.fine);
  const T* bias = c.bias ? b.data() : nullptr;
  const bool tf32 = std::is_same_v<T, float>;
  // forward: tc_launch<T, false>
  std::vector<T> y(size_t(n_out * co), cast<T>(12345.0));
  const unsigned tiles_out = unsigned(tc::num_tiles(n_out)), ctiles = unsigned((co + tc::kTileN - 1) / tc::kTileN);
  warp_emu::run_grid(tiles_out, ctiles, tc::kWarps * 32, [&] {
    tc_kernel<T, false>(x.data(), w.data(), bias, m.nbr_out, m.order_out, m.tile_mask_out, tc::mask_words(V), n_out, ci,
                        co, c.relu, y.data());
  });
  // backward: gx by tc_launch<T, true> over the input-stationary map, gw / gb by the grouped backward
  std::vector<T> gx(size_t(n_in * ci), cast<T>(12345.0)), gw(size_t(V * ci * co), cast<T>(12345.0)),
      gb(size_t(co), cast<T>(12345.0));
  warp_emu::run_grid(unsigned(tc::num_tiles(n_in)), unsigned((ci + tc::kTileN - 1) / tc::kTileN), tc::kWarps * 32, [&] {
    tc_kernel<T, true>(gy.data(), w.data(), static_cast<const T*>(nullptr), m.nbr_in, m.order_in, m.tile_mask_in,
                       tc::mask_words(V), n_in, co, ci, false, gx.data());
  });
  Coverage cov;
  const int64_t P = m.offsets[V];
  grouped_backward<T>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, nullptr, gw.data(), gb.data(),
                      launcher_budget(std::max(ci, co), P), tf32, cov);
  // the twins
  std::vector<T> y2, gx2, gw2, gb2;
  twin_forward<T>(x, w, bias, m, n_in, n_out, ci, co, tf32, y2);
  if (c.relu)
    for (T& v : y2) v = cast<T>(std::max(0.0, widen(v)));
  twin_backward<T>(x, w, gy, m, n_in, n_out, ci, co, tf32, gx2, gw2, gb2);
  const bool no_pairs = P == 0;
  expect_same(y, y2, label + " y", no_pairs && !c.bias);
  expect_same(gx, gx2, label + " gx", no_pairs);
  if (!c.fine) {  // fine x^T gy products are not exact in f32: the weight and bias gradients on integers only
    expect_same(gw, gw2, label + " gw", no_pairs);
    expect_same(gb, gb2, label + " gb");
  }
}

// GroupedGemm: forward, input, weight and bias gradients with the launcher's batch rows and, when asked, a small
// budget that splits the pairs into several batches (first / middle / last reductions).
template <class T>
void run_grouped(const Map& mp, const Case& c, uint32_t seed) {
  const int64_t n_in = mp.n_in, n_out = mp.n_out, V = mp.V, ci = c.ci, co = c.co;
  const ConvMap m = view(mp);
  const std::vector<T> x = values<T>(n_in * ci, seed, c.fine), w = values<T>(V * ci * co, seed + 1, false),
                       b = values<T>(co, seed + 2, false), gy = values<T>(n_out * co, seed + 3, c.fine);
  const T* bias = c.bias ? b.data() : nullptr;
  std::vector<T> y2, gx2, gw2, gb2;
  twin_forward<T>(x, w, bias, m, n_in, n_out, ci, co, false, y2);
  twin_backward<T>(x, w, gy, m, n_in, n_out, ci, co, false, gx2, gw2, gb2);
  const int64_t P = m.offsets[V];
  for (int64_t budget : {launcher_budget(std::max(ci, co), std::max<int64_t>(1, P)), c.small_budget}) {
    if (budget == 0) continue;
    const std::string label = std::string("grouped ") + (std::is_same_v<T, float> ? "f32" : type_name<T>()) + " " +
                              c.name + " C " + std::to_string(ci) + "->" + std::to_string(co) +
                              (c.fine ? " fine" : " ints") + " budget " + std::to_string(budget);
    SCOPED_TRACE(label);
    Coverage cov;
    std::vector<T> y(size_t(n_out * co), cast<T>(12345.0)), gx(size_t(n_in * ci), cast<T>(12345.0)),
        gw(size_t(V * ci * co), cast<T>(12345.0)), gb(size_t(co), cast<T>(12345.0));
    grouped_pass<T>(x.data(), m.in_idx, m.out_idx, w.data(), bias, m, n_out, ci, co, ci, co, false, y.data(), budget,
                    false, cov);
    grouped_backward<T>(x.data(), w.data(), gy.data(), m, n_in, n_out, ci, co, gx.data(), gw.data(), gb.data(), budget,
                        false, cov);
    const bool no_pairs = P == 0;
    expect_same(y, y2, label + " y", no_pairs && !c.bias);
    expect_same(gx, gx2, label + " gx", no_pairs);
    if (!c.fine) {
      expect_same(gw, gw2, label + " gw", no_pairs);
      expect_same(gb, gb2, label + " gb");
    }
    std::printf("  %s: %d batches (%d middle), gathers u4/u32/elem %d/%d/%d, vec4 reductions %d\n", label.c_str(),
                cov.batches, cov.middle_batches, cov.gather[0], cov.gather[1], cov.gather[2], cov.vec4);
  }
}

struct Maps {
  Coords fine = random_set(12, 7);
  Coords coarse = downsample(fine);
  // submanifold 3^3 with offsets 4, 13 (the centre), 22 left empty; strided 2^3 (down); its transpose (up)
  Map subm = build_map(fine, fine, cube(3, 1, -1), [](int64_t k) { return k != 4 && k != 13 && k != 22; });
  Map down = build_map(fine, coarse, cube(2, 1, 0), [](int64_t) { return true; });
  Map up = transposed(down);
  // 5^3 (V = 125: four mask words, the second one empty, and every 7th offset empty); a map without pairs
  Map wide = build_map(fine, fine, cube(5, 1, -2), [](int64_t k) { return (k < 32 || k >= 64) && k % 7 != 3; });
  Map none = build_map(fine, coarse, cube(2, 1, 0), [](int64_t) { return false; });
};
const Maps& maps() {
  static const Maps m;
  return m;
}

TEST(SparseConvTcEmulated, MapsHaveTheShapesTheCasesNeed) {
  const Maps& m = maps();
  std::printf("fine set %lld rows, coarse %lld; pairs subm %lld, down %lld\n", (long long)m.fine.n(),
              (long long)m.coarse.n(), (long long)m.subm.offsets.back(), (long long)m.down.offsets.back());
  EXPECT_GT(m.fine.n(), 200);  // several 64-row tiles and a tail tile
  EXPECT_NE(m.fine.n() % 64, 0);
  EXPECT_NE(m.coarse.n() % 64, 0);
  for (int64_t k : {4, 13, 22}) EXPECT_EQ(m.subm.offsets[size_t(k + 1)], m.subm.offsets[size_t(k)]);
  EXPECT_EQ(m.wide.offsets[64], m.wide.offsets[32]);
  EXPECT_GT(m.wide.offsets[125], m.wide.offsets[64]);  // offsets in the third and fourth words are used
  EXPECT_EQ(m.none.offsets.back(), 0);
}

TEST(SparseConvTcEmulated, TensorCoreBf16) {
  run_tensor_core<bf16_t>(maps().subm, {"subm3", 37, 45, false, true, false, 0}, 11);  // odd C_in: unpaired loads
  run_tensor_core<bf16_t>(maps().up, {"up2", 32, 16, true, true, true, 0}, 12);
  run_tensor_core<bf16_t>(maps().wide, {"subm5", 9, 12, false, true, false, 0}, 17);
}
TEST(SparseConvTcEmulated, TensorCoreF16) {
  run_tensor_core<f16_t>(maps().down, {"down2", 38, 70, false, true, false, 0}, 13);
  run_tensor_core<f16_t>(maps().subm, {"subm3", 16, 9, true, false, false, 0}, 14);
  run_tensor_core<f16_t>(maps().none, {"no pairs", 24, 10, false, true, false, 0}, 18);
}
TEST(SparseConvTcEmulated, TensorCoreTf32) {
  run_tensor_core<float>(maps().subm, {"subm3", 13, 20, true, true, false, 0}, 15);
  run_tensor_core<float>(maps().down, {"down2", 8, 33, false, true, true, 0}, 16);
  run_tensor_core<float>(maps().wide, {"subm5", 6, 40, true, false, false, 0}, 19);
}

TEST(SparseConvTcEmulated, GroupedGemmKernels) {
  run_grouped<float>(maps().subm, {"subm3", 12, 20, false, true, false, 97}, 21);   // uint4 gathers, VEC 4
  run_grouped<float>(maps().down, {"down2", 7, 9, true, true, false, 0}, 22);      // u32 gathers, VEC 1
  run_grouped<bf16_t>(maps().subm, {"subm3", 37, 38, false, true, false, 150}, 23);  // element / u32 gathers
  run_grouped<f16_t>(maps().up, {"up2", 16, 24, true, false, false, 0}, 24);
  run_grouped<double>(maps().down, {"down2", 6, 5, false, true, false, 61}, 25);
  run_grouped<bf16_t>(maps().wide, {"subm5", 10, 6, false, true, false, 300}, 26);
  run_grouped<float>(maps().none, {"no pairs", 8, 12, false, true, false, 0}, 27);
}

TEST(SparseConvTcEmulated, BiasGradientOverSeveralRowBlocks) {
  const int64_t n = 2600, C = 37;  // 3 row blocks of 1024, 2 channel blocks of 32
  const std::vector<bf16_t> g = values<bf16_t>(n * C, 31, false);
  std::vector<bf16_t> gb(static_cast<size_t>(C));
  bias_grad<bf16_t>(g.data(), n, C, gb.data());
  std::vector<bf16_t> want(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t r = 0; r < n; ++r) s += widen(g[size_t(r * C + c)]);
    want[size_t(c)] = float_to_bf16(float(s));
  }
  expect_same(gb, want, "gb");
}

TEST(SparseConvTcEmulated, CvtRnaIsTheTwinsRoundToTf32) {
  // the kernels' to_tf32 (cvt.rna.tf32.f32 emulated) against round_to_tf32, ties and carries included
  std::mt19937 rng(5);
  std::vector<uint32_t> bits = {0u, 0x80000000u, 0x3f801000u, 0x3f803000u, 0xbf801000u, 0x3f800fffu, 0x7f7fffffu,
                                0x7f7ff000u, 0x00001000u, 0x007ff000u, 0x7f800000u, 0xff800000u};
  for (int i = 0; i < 100000; ++i) bits.push_back((uint32_t(rng()) & 0x7f7fffffu) | (rng() % 2 ? 0x80000000u : 0u));
  for (uint32_t u : bits) {
    const float f = bits_float(u);
    ASSERT_EQ(to_tf32(f), float_bits(round_to_tf32(f))) << std::hex << u;
  }
}

}  // namespace
}  // namespace leseg::kernels
