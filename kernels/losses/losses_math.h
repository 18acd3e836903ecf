// SPDX-License-Identifier: Apache-2.0
// Shared per-row math of the fused losses (CPU twin and CUDA kernels use these same formulas).
// Online softmax statistics: m = running max, s = Σ e^{z-m}, t = Σ e^{z-m}·v (a value carried along,
// e.g. v = z for the entropy, v = a - b for KL). Merging two partial states rescales to the larger max,
// so a row is read once for its statistics; -inf is the empty state (s = 0).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/half_math.h"
#include "kernels/common/hd.h"

namespace leseg::kernels::losses {

// Element conversion between a storage type (float, double, f16_t, bf16_t) and an arithmetic type, through
// the shared round-to-nearest-even conversions of kernels/common/half_math.h: cvt<float>(h), cvt<T>(x).
template <class To, class From>
LESEG_HD To cvt(From v) { return Convert<To, From>::apply(v); }

LESEG_HD float lexp(float x) { return expf(x); }
LESEG_HD double lexp(double x) { return exp(x); }
LESEG_HD float llog(float x) { return logf(x); }
LESEG_HD double llog(double x) { return log(x); }
LESEG_HD float llog1p(float x) { return log1pf(x); }
LESEG_HD double llog1p(double x) { return log1p(x); }
// log(1 + e^d), overflow-free. The negative-learning term -log(1 - q_y) equals softplus(z_y - lse_rest): in f32
// this keeps its relative accuracy, where lse - lse_rest (two numbers near 10 whose difference is ~1/C) loses
// about three digits at C = 1000-4096 (the CUDA rows' arithmetic; the CPU twin works in double).
template <class A>
LESEG_HD A softplus(A d) {
  return d > A(0) ? d + llog1p(lexp(A(-d))) : llog1p(lexp(d));
}

template <class A>
struct RowStats {
  A m, s, t;
};

template <class A>
LESEG_HD RowStats<A> stats_empty() {
  return RowStats<A>{A(-INFINITY), A(0), A(0)};
}

// Add one element z (with carried value v).
template <class A>
// The empty state takes the first element as is, so a leading -inf logit (a masked class) gives no NaN.
LESEG_HD void stats_push(RowStats<A>& st, A z, A v) {
  if (z > st.m || st.s == A(0)) {
    A f = st.s == A(0) ? A(0) : lexp(A(st.m - z));
    st.s = st.s * f + A(1);
    st.t = st.t * f + v;
    st.m = z;
  } else {
    A e = lexp(A(z - st.m));
    st.s += e;
    st.t += e * v;
  }
}

// Merge partial state o into st.
template <class A>
LESEG_HD void stats_merge(RowStats<A>& st, const RowStats<A>& o) {
  if (o.s == A(0)) return;
  if (st.s == A(0)) { st = o; return; }
  if (o.m > st.m) {
    A f = lexp(A(st.m - o.m));
    st.s = st.s * f + o.s;
    st.t = st.t * f + o.t;
    st.m = o.m;
  } else {
    A f = lexp(A(o.m - st.m));
    st.s += o.s * f;
    st.t += o.t * f;
  }
}

// log Σ e^z of a row from its statistics (-inf for an empty row).
template <class A>
LESEG_HD A stats_lse(const RowStats<A>& st) { return st.s == A(0) ? A(-INFINITY) : st.m + llog(st.s); }

// ---- cross-entropy with class weights w (w ≡ 1 when absent) and label smoothing ε (PyTorch) ----
// ℓ_i = (1-ε)·w_y·(lse - z_y) + ε/C·Σ_k w_k (lse - z_k) = (1-ε)·w_y·(lse - z_y) + ε/C·(W·lse - Σ_k w_k z_k)
// with W = Σ_k w_k; mean divisor Σ_i w_{y_i}.   ∂ℓ_i/∂z_k = (1-ε)·w_y·(p_k - [k=y]) + ε/C·(W·p_k - w_k).
template <class A>
LESEG_HD A ce_row_loss(A lse, A z_y, A w_y, A W, A swz, A eps, A C) {
  // Without smoothing the Σ w_k z_k term is skipped (it is -inf with a masked class: 0·inf would be NaN).
  return (A(1) - eps) * w_y * (lse - z_y) + (eps == A(0) ? A(0) : eps / C * (W * lse - swz));
}
template <class A>
LESEG_HD A ce_grad(A p_k, bool is_y, A w_y, A w_k, A W, A eps, A C) {
  return (A(1) - eps) * w_y * (p_k - (is_y ? A(1) : A(0))) + eps / C * (W * p_k - w_k);
}

// ---- soft-target CE ℓ = -Σ p_k log q_k = (Σp)·lse - Σ p_k z_k;  ∂ℓ/∂z_k = (Σp)·q_k - p_k, ∂ℓ/∂p_k = lse - z_k ----
// ---- entropy H = lse - E_q[z];  ∂H/∂z_k = -q_k (z_k - E_q[z])  (t carries Σ e^{z-m} z, E_q[z] = t/s) ----
template <class A>
LESEG_HD A entropy_grad(A q_k, A z_k, A mean_z) { return -q_k * (z_k - mean_z); }

// ---- KL(p‖q), p = softmax(a), q = softmax(b), a = z_p/T, b = z_q/T:
// KL = Σ p (a - b) - lse_a + lse_b = E_p[a-b] - lse_a + lse_b.
// ∂KL/∂a_k = p_k ((a_k - b_k) - E_p[a-b]),  ∂KL/∂b_k = q_k - p_k.  With the T² factor and a = z/T:
// ∂(T²KL)/∂z_p,k = T·p_k((a_k-b_k) - E_p[a-b]),  ∂(T²KL)/∂z_q,k = T·(q_k - p_k).

// ---- negative learning ℓ = -log(1 - q_y) = lse(z) - lse_{k≠y}(z): both log-sum-exps are computed with
// their own max, so there is no 1 - p cancellation and the loss stays finite for logits of ±1e4.
// ∂ℓ/∂z_k = q_k - q'_k with q' = softmax over k ≠ y (q'_y = 0).

// ---- confidence split: teacher max prob = e^{m - lse} = 1/s (s with the max as reference). ----
template <class A>
LESEG_HD A max_prob(const RowStats<A>& st) { return A(1) / st.s; }

// ---- cosine embedding ℓ_i = 1 - cos,  cos = a·b / sqrt((|a|²+ε)(|b|²+ε)) with ε = 1e-12 (PyTorch);
// ∂ℓ/∂a = -(b/(n_a n_b) - cos·a/n_a²),  ∂ℓ/∂b = -(a/(n_a n_b) - cos·b/n_b²). ----
constexpr double kCosEps = 1e-12;

}  // namespace leseg::kernels::losses
