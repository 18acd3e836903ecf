// SPDX-License-Identifier: Apache-2.0
// Per-element maths of fused attention shared by the CPU twin and the CUDA kernels: the logit, the online
// softmax step, the finalisation into (1/l, logsumexp) and the recomputed probability. Rows with no
// unmasked key have m = -inf, l = 0: they finalise to out_scale 0 and lse +inf, so exp(s - lse) = 0.
#pragma once
#include <cmath>

#include "kernels/common/hd.h"

namespace leseg::kernels::attn {

template <class A>
LESEG_HD A neg_inf() { return -static_cast<A>(INFINITY); }

// s = scale * <q, k> + bias
template <class A>
LESEG_HD A logit(A dot, A scale, A bias) { return scale * dot + bias; }

// Online softmax: a key tile with maximum logit `tile_max` arrives; returns the new running max and sets
// `alpha`, the factor that rescales the old running sum and accumulator (0 when nothing was seen yet).
template <class A>
LESEG_HD A online_max(A m_old, A tile_max, A& alpha) {
  A m_new = m_old > tile_max ? m_old : tile_max;
  alpha = (m_old == neg_inf<A>()) ? A(0) : std::exp(m_old - m_new);
  return m_new;
}

// exp(s - m) for a running max m that may still be -inf (then s is -inf too: the key is masked).
template <class A>
LESEG_HD A shifted_exp(A s, A m) { return (s == neg_inf<A>()) ? A(0) : std::exp(s - m); }

// End of the key walk: factor for the accumulator (1/l, or 0 for an empty row) and logsumexp L.
template <class A>
LESEG_HD A finalize(A m, A l, A& lse) {
  if (l > A(0)) {
    lse = m + std::log(l);
    return A(1) / l;
  }
  lse = static_cast<A>(INFINITY);
  return A(0);
}

// Recomputed probability P_ij = exp(s_ij - L_i); masked keys pass s = -inf. L = +inf gives 0.
template <class A>
LESEG_HD A prob(A s, A lse) { return (s == neg_inf<A>() || lse == static_cast<A>(INFINITY)) ? A(0) : std::exp(s - lse); }

// dS_ij = P_ij (dP_ij - D_i)
template <class A>
LESEG_HD A dscore(A p, A dp, A di) { return p * (dp - di); }

}  // namespace leseg::kernels::attn
