// SPDX-License-Identifier: Apache-2.0
// CPU twin of fused attention (the specification; see attention.h for the maths and layout).
// Tiles: TQ query rows x TK key rows of one (sequence, head). Work items are (sequence, query tile, head)
// for the forward and (sequence, head) for the backward, which walks key tiles x query tiles once and
// recomputes each P tile once for dQ, dK, dV and dBias (5 tile GEMMs per tile pair, like the unfused
// composition; the dQ accumulator spans the sequence). Each item owns its output rows, so the OpenMP loops
// have no races and results do not depend on the thread count (the backward shares B*H items).
// Arithmetic is in the tile type W: f32 for f32/f16/bf16 inputs, f64 for f64 inputs (the oracle tests).
// Tiles are strided views of the packed inputs (half inputs are converted once into W copies owned by the
// call); the tile products (Q K^T, P V, dO V^T, dS K, P^T dO, dS^T Q) are Eigen GEMMs in W and the
// probabilities Eigen's vectorised exp in W; the running softmax sum l and D_i = <dO_i, o_i> are double.
// Masked keys carry the logit -inf and get probability exactly 0 (selected, not exp'd: Eigen's exp
// returns a tiny positive number for -inf); a row whose running max is still -inf gets 0 the same way.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include <Eigen/Dense>

#include "kernels/attention/attention.h"
#include "kernels/attention/attention_math.h"
#include "kernels/common/check.h"
#include "kernels/common/cpu_utils.h"

namespace leseg::kernels {
namespace {

constexpr int64_t kTQ = 64;
constexpr int64_t kTK = 128;
// Below this many multiply-adds (upper bound Tq*Tk*H*D) the loops stay serial: thread wake-up costs more.
constexpr int64_t kParallelWork = 1 << 18;

bool worth_threads(const AttentionDims& d) { return d.tq * d.tk * d.heads * d.dim >= kParallelWork; }

// Tile arithmetic type for storage type T.
template <class T>
using tile_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

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

template <class W>
using RowMat = Eigen::Matrix<W, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class W>
using MapMat = Eigen::Map<RowMat<W>>;
template <class W>
using CMapMat = Eigen::Map<const RowMat<W>>;
template <class W>
using Vec = Eigen::Matrix<W, Eigen::Dynamic, 1>;
// Rows of one head inside a packed (rows, H, D) tensor: an (n, D) matrix with row stride H*D.
template <class W>
using HeadRows = Eigen::Map<const RowMat<W>, 0, Eigen::OuterStride<>>;

// x (n elements) in the tile type: x itself when T is W, else a converted copy held in `buf`.
template <class W, class T>
const W* as_tile_type(const T* x, int64_t n, std::vector<W>& buf) {
  if constexpr (std::is_same_v<T, W>) {
    return x;
  } else {
    buf.resize(size_t(n));
    W* out = buf.data();
    cpu::for_each(n, [=](int64_t i) { out[i] = Convert<W, T>::apply(x[i]); });
    return out;
  }
}

// Rows [r0, r0 + n) of head h of x (rows, H, D).
template <class W>
HeadRows<W> head_rows(const W* x, int64_t r0, int64_t n, int64_t h, const AttentionDims& d) {
  return HeadRows<W>(x + (r0 * d.heads + h) * d.dim, n, d.dim, Eigen::OuterStride<>(d.heads * d.dim));
}

// Logits of a query tile against a key tile: s (nq, nk) = scale * Q K^T + term, where term_j is the key's
// bias (0 without one) or -inf when the key is masked (scale * dot + bias, attn::logit, as one GEMM and a
// row broadcast).
template <class W, class T>
void tile_logits(const HeadRows<W>& Q, const HeadRows<W>& K, int64_t k0, int64_t h, const uint8_t* key_mask,
                 const T* key_bias, const AttentionDims& d, W* s, W* term) {
  const int64_t nq = Q.rows(), nk = K.rows();
  for (int64_t j = 0; j < nk; ++j) {
    const int64_t key = k0 + j;
    term[j] = (key_mask && key_mask[key]) ? attn::neg_inf<W>()
                                          : (key_bias ? Convert<W, T>::apply(key_bias[key * d.heads + h]) : W(0));
  }
  MapMat<W> S(s, nq, nk);
  S.noalias() = Q * K.transpose();
  S = (W(d.scale) * S).rowwise() + Eigen::Map<const Eigen::Matrix<W, 1, Eigen::Dynamic>>(term, nk);
}

// In place: s (nq, nk) logits -> exp(s - c_i) per row i, exactly 0 where s = -inf (masked keys; also every
// entry of a row whose shift c_i is -inf, or whose logsumexp c_i is +inf: such rows have no unmasked key).
template <class W>
void shifted_exp_rows(W* s, int64_t nq, int64_t nk, const W* c) {
  MapMat<W> S(s, nq, nk);
  const auto shift = Eigen::Map<const Vec<W>>(c, nq).array();
  S = (S.array() == attn::neg_inf<W>()).select(W(0), (S.array().colwise() - shift).exp()).matrix();
}

// dp (nq, nk) <- dO V^T, then in place dS = P (dP - D_i) (attn::dscore), with p the recomputed P.
template <class W>
void dscores(const W* p, const HeadRows<W>& dO, const HeadRows<W>& V, const W* Di, W* dp) {
  const int64_t nq = dO.rows(), nk = V.rows();
  MapMat<W> dP(dp, nq, nk);
  dP.noalias() = dO * V.transpose();
  dP = (CMapMat<W>(p, nq, nk).array() * (dP.array().colwise() - Eigen::Map<const Vec<W>>(Di, nq).array())).matrix();
}

// In place: x (n values of the tile type) rounded through storage T (the tensor-core variant's mma operands,
// AttentionDims::round_products); nothing for f32/f64 storage.
template <class T, class W>
void round_through(W* x, int64_t n, bool on) {
  if constexpr (std::is_same_v<T, f16_t> || std::is_same_v<T, bf16_t>) {
    if (!on) return;
    for (int64_t i = 0; i < n; ++i) x[i] = Convert<W, T>::apply(Convert<T, W>::apply(x[i]));
  } else {
    (void)x, (void)n, (void)on;
  }
}

}  // namespace

template <class T, class I>
void attention_forward_cpu(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                           const T* key_bias, const AttentionDims& d, T* o, attn_stat_t<T>* lse) {
  using W = tile_t<T>;
  check_dims(cu_q, cu_k, d);
  const std::vector<Tile> tiles = make_tiles(cu_q, d.batch, kTQ);
  const int64_t D = d.dim, H = d.heads, items = int64_t(tiles.size()) * H;
  std::vector<W> qb, kb, vb;  // converted copies (half inputs only)
  const W* qw = as_tile_type(q, d.tq * H * D, qb);
  const W* kw = as_tile_type(k, d.tk * H * D, kb);
  const W* vw = as_tile_type(v, d.tk * H * D, vb);
#pragma omp parallel if (worth_threads(d))
  {
    std::vector<W> acc(kTQ * D), s(kTQ * kTK), term(kTK), m(kTQ), mt(kTQ), alpha(kTQ);
    std::vector<double> l(kTQ);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < items; ++it) {
      const Tile& t = tiles[it / H];
      const int64_t h = it % H, nq = t.end - t.begin;
      const HeadRows<W> Q = head_rows(qw, t.begin, nq, h, d);
      MapMat<W> A(acc.data(), nq, D);
      A.setZero();
      std::fill(m.begin(), m.end(), attn::neg_inf<W>());
      std::fill(l.begin(), l.end(), 0.0);
      for (int64_t k0 = int64_t(cu_k[t.b]); k0 < int64_t(cu_k[t.b + 1]); k0 += kTK) {
        const int64_t nk = std::min<int64_t>(kTK, int64_t(cu_k[t.b + 1]) - k0);
        tile_logits(Q, head_rows(kw, k0, nk, h, d), k0, h, key_mask, key_bias, d, s.data(), term.data());
        MapMat<W> S(s.data(), nq, nk);
        Eigen::Map<Vec<W>>(mt.data(), nq) = S.rowwise().maxCoeff();
        for (int64_t i = 0; i < nq; ++i) m[i] = attn::online_max(m[i], mt[i], alpha[i]);
        shifted_exp_rows(s.data(), nq, nk, m.data());
        for (int64_t i = 0; i < nq; ++i) {
          l[i] = l[i] * double(alpha[i]) + double(S.row(i).sum());
          A.row(i) *= alpha[i];
        }
        round_through<T>(s.data(), nq * nk, d.round_products);  // l summed the unrounded P, as the kernel does
        A.noalias() += S * head_rows(vw, k0, nk, h, d);
      }
      for (int64_t i = 0; i < nq; ++i) {
        double L;
        const double inv = attn::finalize(double(m[i]), l[i], L);
        const int64_t row = (t.begin + i) * H + h;
        lse[row] = attn_stat_t<T>(L);
        for (int64_t c = 0; c < D; ++c) o[row * D + c] = Convert<T, double>::apply(double(acc[i * D + c]) * inv);
      }
    }
  }
}

template <class T, class I>
void attention_backward_cpu(const T* q, const T* k, const T* v, const I* cu_q, const I* cu_k, const uint8_t* key_mask,
                            const T* key_bias, const T* o, const attn_stat_t<T>* lse, const T* dout,
                            const AttentionDims& d, T* dq, T* dk, T* dv, T* dbias, void* workspace) {
  using W = tile_t<T>;
  check_dims(cu_q, cu_k, d);
  LESEG_KCHECK(workspace || d.tq * d.heads == 0, "attention backward: null workspace");
  const int64_t D = d.dim, H = d.heads;
  // D_i = <dO_i, o_i> per (query, head), in double.
  double* Di = static_cast<double*>(workspace);
#pragma omp parallel for schedule(static) if (worth_threads(d))
  for (int64_t r = 0; r < d.tq * H; ++r) {
    double s = 0;
    for (int64_t c = 0; c < D; ++c)
      s += Convert<double, T>::apply(dout[r * D + c]) * Convert<double, T>::apply(o[r * D + c]);
    Di[r] = s;
  }
  auto store = [](double x) { return Convert<T, double>::apply(x); };
  std::vector<W> qb, kb, vb, dob;  // converted copies (half inputs only)
  const W* qw = as_tile_type(q, d.tq * H * D, qb);
  const W* kw = as_tile_type(k, d.tk * H * D, kb);
  const W* vw = as_tile_type(v, d.tk * H * D, vb);
  const W* dow = as_tile_type(dout, d.tq * H * D, dob);

  // One item per (sequence, head), serial inside: for every key tile, for every query tile, P and dS are
  // recomputed once and feed all four products (dV += P^T dO, dK += dS^T Q, dBias += colsum dS into the key
  // tile's accumulators, dQ += dS K into the sequence's dQ accumulator). Each item owns its output rows.
  const int64_t items = d.batch * H;
  int64_t max_lq = 0;
  for (int64_t b = 0; b < d.batch; ++b) max_lq = std::max<int64_t>(max_lq, int64_t(cu_q[b + 1]) - int64_t(cu_q[b]));
#pragma omp parallel if (worth_threads(d))
  {
    const size_t seq_rows = size_t(max_lq), seq_elems = size_t(max_lq * D);
    std::vector<W> dqa(seq_elems), Ls(seq_rows), Ds(seq_rows), dka(kTK * D), dva(kTK * D), dba(kTK), s(kTQ * kTK),
        dp(kTQ * kTK), term(kTK);
#pragma omp for schedule(dynamic)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t b = it / H, h = it % H;
      const int64_t qb0 = int64_t(cu_q[b]), nqs = int64_t(cu_q[b + 1]) - qb0;
      const int64_t kb0 = int64_t(cu_k[b]), ke = int64_t(cu_k[b + 1]);
      for (int64_t i = 0; i < nqs; ++i) {
        Ls[i] = W(lse[(qb0 + i) * H + h]);
        Ds[i] = W(Di[(qb0 + i) * H + h]);
      }
      MapMat<W> dQ(dqa.data(), nqs, D);
      dQ.setZero();
      for (int64_t k0 = kb0; k0 < ke; k0 += kTK) {
        const int64_t nk = std::min<int64_t>(kTK, ke - k0);
        const HeadRows<W> K = head_rows(kw, k0, nk, h, d), V = head_rows(vw, k0, nk, h, d);
        MapMat<W> dK(dka.data(), nk, D), dV(dva.data(), nk, D);
        Eigen::Map<Eigen::Matrix<W, 1, Eigen::Dynamic>> dB(dba.data(), nk);
        dK.setZero();
        dV.setZero();
        dB.setZero();
        for (int64_t i0 = 0; i0 < nqs; i0 += kTQ) {
          const int64_t nq = std::min<int64_t>(kTQ, nqs - i0);
          const HeadRows<W> Q = head_rows(qw, qb0 + i0, nq, h, d), dO = head_rows(dow, qb0 + i0, nq, h, d);
          tile_logits(Q, K, k0, h, key_mask, key_bias, d, s.data(), term.data());
          shifted_exp_rows(s.data(), nq, nk, Ls.data() + i0);  // P = exp(s - L)
          dscores(s.data(), dO, V, Ds.data() + i0, dp.data());
          const CMapMat<W> P(s.data(), nq, nk), dS(dp.data(), nq, nk);
          dB += dS.colwise().sum();  // unrounded dS (the kernel sums its f32 accumulators)
          round_through<T>(s.data(), nq * nk, d.round_products);
          round_through<T>(dp.data(), nq * nk, d.round_products);
          dV.noalias() += P.transpose() * dO;
          dK.noalias() += dS.transpose() * Q;
          dQ.middleRows(i0, nq).noalias() += dS * K;
        }
        for (int64_t j = 0; j < nk; ++j) {
          const int64_t row = (k0 + j) * H + h;
          for (int64_t c = 0; c < D; ++c) {
            dk[row * D + c] = store(double(dka[j * D + c]) * d.scale);
            dv[row * D + c] = store(double(dva[j * D + c]));
          }
          if (dbias) dbias[row] = store(double(dba[j]));
        }
      }
      for (int64_t i = 0; i < nqs; ++i) {
        const int64_t row = (qb0 + i) * H + h;
        for (int64_t c = 0; c < D; ++c) dq[row * D + c] = store(double(dqa[i * D + c]) * d.scale);
      }
    }
  }
}

#define LESEG_ATTN_INST(T, I)                                                                                         \
  template void attention_forward_cpu<T, I>(const T*, const T*, const T*, const I*, const I*, const uint8_t*, const T*, \
                                            const AttentionDims&, T*, attn_stat_t<T>*);                              \
  template void attention_backward_cpu<T, I>(const T*, const T*, const T*, const I*, const I*, const uint8_t*,          \
                                             const T*, const T*, const attn_stat_t<T>*, const T*,                      \
                                             const AttentionDims&, T*, T*, T*, T*, void*);
#define LESEG_ATTN_INST_T(T) LESEG_ATTN_INST(T, int32_t) LESEG_ATTN_INST(T, int64_t)
LESEG_ATTN_INST_T(float)
LESEG_ATTN_INST_T(double)
LESEG_ATTN_INST_T(f16_t)
LESEG_ATTN_INST_T(bf16_t)
#undef LESEG_ATTN_INST_T
#undef LESEG_ATTN_INST

}  // namespace leseg::kernels
