// SPDX-License-Identifier: Apache-2.0
// CPU twin of fused attention (the specification; see attention.h for the maths and layout).
// Tiles: TQ query rows x TK key rows of one (sequence, head). Work items are (sequence, query tile, head)
// for forward and dQ, (sequence, key tile, head) for dK/dV/dBias; each item owns its output rows, so the
// OpenMP loop has no races and results do not depend on the thread count. Accumulation in double; the
// tile products (Q K^T, P V, dO V^T, dS K, P^T dO, dS^T Q) are Eigen GEMMs on double tiles.
#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_math.h"
#include "kernels/common/check.h"

namespace leseg::kernels {
namespace {

constexpr int64_t kTQ = 32;
constexpr int64_t kTK = 64;
constexpr double kNegInf = -INFINITY;
// Below this many multiply-adds (upper bound Tq*Tk*H*D) the loops stay serial: thread wake-up costs more.
constexpr int64_t kParallelWork = 1 << 18;

bool worth_threads(const AttentionDims& d) { return d.tq * d.tk * d.heads * d.dim >= kParallelWork; }

struct Tile {
  int64_t b, begin, end;  // rows [begin, end) of sequence b
};

template <class I>
void check_dims(const I* cu_q, const I* cu_k, const AttentionDims& d) {
  LESEG_KCHECK(d.batch >= 0 && d.heads >= 1 && d.dim >= 1, "attention: batch ", d.batch, ", heads ", d.heads, ", dim ",
               d.dim);
  LESEG_KCHECK(cu_q && cu_k, "attention: null offsets");
  LESEG_KCHECK(int64_t(cu_q[0]) == 0 && int64_t(cu_k[0]) == 0, "attention: offsets must start at 0");
  LESEG_KCHECK(int64_t(cu_q[d.batch]) == d.tq && int64_t(cu_k[d.batch]) == d.tk, "attention: offsets end at ",
               int64_t(cu_q[d.batch]), "/", int64_t(cu_k[d.batch]), ", rows are ", d.tq, "/", d.tk);
}

// Tiles of `tile` rows over every sequence of `cu`.
template <class I>
std::vector<Tile> make_tiles(const I* cu, int64_t batch, int64_t tile) {
  std::vector<Tile> t;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = int64_t(cu[b]); r < int64_t(cu[b + 1]); r += tile) t.push_back({b, r, std::min<int64_t>(r + tile, int64_t(cu[b + 1]))});
  return t;
}

// Copies rows [begin, end) of head h of x (rows, H, D) into dst (n, D) as double.
template <class T>
void load_rows(const T* x, int64_t begin, int64_t end, int64_t h, const AttentionDims& d, double* dst) {
  for (int64_t r = begin; r < end; ++r) {
    const T* src = x + (r * d.heads + h) * d.dim;
    double* out = dst + (r - begin) * d.dim;
    for (int64_t c = 0; c < d.dim; ++c) out[c] = double(src[c]);
  }
}

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapMat = Eigen::Map<RowMat>;
using CMapMat = Eigen::Map<const RowMat>;

// Logits of a query tile against a key tile: s (nq, nk) = scale * qt kt^T + bias, masked keys -inf.
template <class T>
void tile_logits(const double* qt, int64_t nq, const double* kt, int64_t k0, int64_t nk, int64_t h, const uint8_t* key_mask,
                 const T* key_bias, const AttentionDims& d, double* s) {
  MapMat S(s, nq, nk);
  S.noalias() = CMapMat(qt, nq, d.dim) * CMapMat(kt, nk, d.dim).transpose();
  for (int64_t j = 0; j < nk; ++j) {
    const int64_t key = k0 + j;
    const bool masked = key_mask && key_mask[key];
    const double bias = key_bias ? double(key_bias[key * d.heads + h]) : 0.0;
    for (int64_t i = 0; i < nq; ++i) s[i * nk + j] = masked ? kNegInf : attn::logit(s[i * nk + j], d.scale, bias);
  }
}

// In place: s (nq, nk) logits -> P = exp(s - L_row), then (when dp is given) dp (nq, nk) = dO V^T -> dS.
void probs_and_dscores(double* s, int64_t nq, int64_t nk, const double* dot, const double* vt, int64_t D,
                       const double* L, const double* Di, double* dp) {
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nk; ++j) s[i * nk + j] = attn::prob(s[i * nk + j], L[i]);
  MapMat(dp, nq, nk).noalias() = CMapMat(dot, nq, D) * CMapMat(vt, nk, D).transpose();
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t j = 0; j < nk; ++j) dp[i * nk + j] = attn::dscore(s[i * nk + j], dp[i * nk + j], Di[i]);
}

}  // namespace

template <class T, class I>
void attention_forward_cpu(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                           const T* key_bias, const AttentionDims& d, T* o, T* lse) {
  check_dims(cu_q, cu_k, d);
  const std::vector<Tile> tiles = make_tiles(cu_q, d.batch, kTQ);
  const int64_t D = d.dim, H = d.heads, items = int64_t(tiles.size()) * H;
#pragma omp parallel if (worth_threads(d))
  {
    std::vector<double> qt(kTQ * D), kt(kTK * D), vt(kTK * D), acc(kTQ * D), s(kTQ * kTK), m(kTQ), l(kTQ);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < items; ++it) {
      const Tile& t = tiles[it / H];
      const int64_t h = it % H, nq = t.end - t.begin;
      load_rows(q, t.begin, t.end, h, d, qt.data());
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(m.begin(), m.end(), kNegInf);
      std::fill(l.begin(), l.end(), 0.0);
      for (int64_t k0 = int64_t(cu_k[t.b]); k0 < int64_t(cu_k[t.b + 1]); k0 += kTK) {
        const int64_t nk = std::min<int64_t>(kTK, int64_t(cu_k[t.b + 1]) - k0);
        load_rows(k, k0, k0 + nk, h, d, kt.data());
        load_rows(v, k0, k0 + nk, h, d, vt.data());
        tile_logits(qt.data(), nq, kt.data(), k0, nk, h, key_mask, key_bias, d, s.data());
        for (int64_t i = 0; i < nq; ++i) {
          double* si = s.data() + i * nk;
          double tile_max = kNegInf;
          for (int64_t j = 0; j < nk; ++j) tile_max = std::max(tile_max, si[j]);
          double alpha;
          const double mi = attn::online_max(m[i], tile_max, alpha);
          double li = l[i] * alpha;
          for (int64_t j = 0; j < nk; ++j) li += (si[j] = attn::shifted_exp(si[j], mi));
          for (int64_t c = 0; c < D; ++c) acc[i * D + c] *= alpha;
          m[i] = mi;
          l[i] = li;
        }
        MapMat(acc.data(), nq, D).noalias() += CMapMat(s.data(), nq, nk) * CMapMat(vt.data(), nk, D);
      }
      for (int64_t i = 0; i < nq; ++i) {
        double L;
        const double inv = attn::finalize(m[i], l[i], L);
        const int64_t row = (t.begin + i) * H + h;
        lse[row] = T(L);
        for (int64_t c = 0; c < D; ++c) o[row * D + c] = T(acc[i * D + c] * inv);
      }
    }
  }
}

template <class T, class I>
void attention_backward_cpu(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                            const T* key_bias, const T* o, const T* lse, const T* dout, const AttentionDims& d,
                            T* dq, T* dk, T* dv, T* dbias, void* workspace) {
  check_dims(cu_q, cu_k, d);
  LESEG_KCHECK(workspace || d.tq * d.heads == 0, "attention backward: null workspace");
  const int64_t D = d.dim, H = d.heads;
  // D_i = <dO_i, o_i> per (query, head), in double.
  double* Di = static_cast<double*>(workspace);
#pragma omp parallel for schedule(static) if (worth_threads(d))
  for (int64_t r = 0; r < d.tq * H; ++r) {
    double s = 0;
    for (int64_t c = 0; c < D; ++c) s += double(dout[r * D + c]) * double(o[r * D + c]);
    Di[r] = s;
  }

  // dQ: one item per (sequence, query tile, head).
  const std::vector<Tile> qtiles = make_tiles(cu_q, d.batch, kTQ);
  const int64_t qitems = int64_t(qtiles.size()) * H;
#pragma omp parallel if (worth_threads(d))
  {
    std::vector<double> qt(kTQ * D), dot_(kTQ * D), kt(kTK * D), vt(kTK * D), acc(kTQ * D), s(kTQ * kTK),
        dp(kTQ * kTK), Lt(kTQ), Dt(kTQ);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < qitems; ++it) {
      const Tile& t = qtiles[it / H];
      const int64_t h = it % H, nq = t.end - t.begin;
      load_rows(q, t.begin, t.end, h, d, qt.data());
      load_rows(dout, t.begin, t.end, h, d, dot_.data());
      for (int64_t i = 0; i < nq; ++i) {
        Lt[i] = double(lse[(t.begin + i) * H + h]);
        Dt[i] = Di[(t.begin + i) * H + h];
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t k0 = int64_t(cu_k[t.b]); k0 < int64_t(cu_k[t.b + 1]); k0 += kTK) {
        const int64_t nk = std::min<int64_t>(kTK, int64_t(cu_k[t.b + 1]) - k0);
        load_rows(k, k0, k0 + nk, h, d, kt.data());
        load_rows(v, k0, k0 + nk, h, d, vt.data());
        tile_logits(qt.data(), nq, kt.data(), k0, nk, h, key_mask, key_bias, d, s.data());
        probs_and_dscores(s.data(), nq, nk, dot_.data(), vt.data(), D, Lt.data(), Dt.data(), dp.data());
        MapMat(acc.data(), nq, D).noalias() += CMapMat(dp.data(), nq, nk) * CMapMat(kt.data(), nk, D);
      }
      for (int64_t i = 0; i < nq; ++i) {
        const int64_t row = (t.begin + i) * H + h;
        for (int64_t c = 0; c < D; ++c) dq[row * D + c] = T(acc[i * D + c] * d.scale);
      }
    }
  }

  // dK, dV, dBias: one item per (sequence, key tile, head), looping over the sequence's queries.
  const std::vector<Tile> ktiles = make_tiles(cu_k, d.batch, kTK);
  const int64_t kitems = int64_t(ktiles.size()) * H;
#pragma omp parallel if (worth_threads(d))
  {
    std::vector<double> kt(kTK * D), vt(kTK * D), qt(kTQ * D), dot_(kTQ * D), dka(kTK * D), dva(kTK * D), dba(kTK),
        s(kTQ * kTK), dp(kTQ * kTK), Lt(kTQ), Dt(kTQ);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < kitems; ++it) {
      const Tile& t = ktiles[it / H];
      const int64_t h = it % H, nk = t.end - t.begin;
      load_rows(k, t.begin, t.end, h, d, kt.data());
      load_rows(v, t.begin, t.end, h, d, vt.data());
      std::fill(dka.begin(), dka.end(), 0.0);
      std::fill(dva.begin(), dva.end(), 0.0);
      std::fill(dba.begin(), dba.end(), 0.0);
      for (int64_t q0 = int64_t(cu_q[t.b]); q0 < int64_t(cu_q[t.b + 1]); q0 += kTQ) {
        const int64_t nq = std::min<int64_t>(kTQ, int64_t(cu_q[t.b + 1]) - q0);
        load_rows(q, q0, q0 + nq, h, d, qt.data());
        load_rows(dout, q0, q0 + nq, h, d, dot_.data());
        for (int64_t i = 0; i < nq; ++i) {
          Lt[i] = double(lse[(q0 + i) * H + h]);
          Dt[i] = Di[(q0 + i) * H + h];
        }
        tile_logits(qt.data(), nq, kt.data(), t.begin, nk, h, key_mask, key_bias, d, s.data());
        probs_and_dscores(s.data(), nq, nk, dot_.data(), vt.data(), D, Lt.data(), Dt.data(), dp.data());
        const CMapMat P(s.data(), nq, nk), dS(dp.data(), nq, nk);
        MapMat(dva.data(), nk, D).noalias() += P.transpose() * CMapMat(dot_.data(), nq, D);
        MapMat(dka.data(), nk, D).noalias() += dS.transpose() * CMapMat(qt.data(), nq, D);
        for (int64_t i = 0; i < nq; ++i)
          for (int64_t j = 0; j < nk; ++j) dba[j] += dp[i * nk + j];
      }
      for (int64_t j = 0; j < nk; ++j) {
        const int64_t row = (t.begin + j) * H + h;
        for (int64_t c = 0; c < D; ++c) {
          dk[row * D + c] = T(dka[j * D + c] * d.scale);
          dv[row * D + c] = T(dva[j * D + c]);
        }
        if (dbias) dbias[row] = T(dba[j]);
      }
    }
  }
}

#define LESEG_ATTN_INST(T, I)                                                                                         \
  template void attention_forward_cpu<T, I>(const T*, const T*, const T*, const I*, const I*, const uint8_t*, const T*, \
                                            const AttentionDims&, T*, T*);                                            \
  template void attention_backward_cpu<T, I>(const T*, const T*, const T*, const I*, const I*, const uint8_t*,          \
                                             const T*, const T*, const T*, const T*, const AttentionDims&, T*, T*, T*, \
                                             T*, void*);
LESEG_ATTN_INST(float, int32_t)
LESEG_ATTN_INST(float, int64_t)
LESEG_ATTN_INST(double, int32_t)
LESEG_ATTN_INST(double, int64_t)
#undef LESEG_ATTN_INST

}  // namespace leseg::kernels
