// SPDX-License-Identifier: Apache-2.0
// Serial double-precision oracle for fused attention: for every (sequence, head) the dense composition
// S = scale * Q K^T + bias -> P = softmax(S) over unmasked keys -> O = P V, and its backward written from
// the softmax Jacobian (dS = P ∘ (dP - rowsum(P ∘ dP)), not from D_i = <dO, O> as the kernels do).
// Shared by the kernel tests (tests/kernels/attention) and the engine tests (tests/engine/attention).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/attention/attention.h"

namespace leseg::testing::attn_ref {

struct Problem {
  int64_t H = 1, D = 1;
  std::vector<int64_t> cu_q, cu_k;
  std::vector<double> q, k, v;   // (Tq, H, D), (Tk, H, D)
  std::vector<uint8_t> mask;     // (Tk) or empty
  std::vector<double> bias;      // (Tk, H) or empty
  double scale = 1.0;
  int64_t tq() const { return cu_q.back(); }
  int64_t tk() const { return cu_k.back(); }
};

struct Result {
  std::vector<double> o, dq, dk, dv, dbias;
};

// The kernels' dimension block for a problem (longest query / key sequence from the offsets).
inline kernels::AttentionDims dims_of(const Problem& p) {
  kernels::AttentionDims d;
  d.batch = int64_t(p.cu_q.size()) - 1;
  d.heads = p.H;
  d.dim = p.D;
  d.tq = p.tq();
  d.tk = p.tk();
  d.scale = p.scale;
  for (size_t b = 1; b < p.cu_q.size(); ++b) {
    d.max_lq = std::max(d.max_lq, p.cu_q[b] - p.cu_q[b - 1]);
    d.max_lk = std::max(d.max_lk, p.cu_k[b] - p.cu_k[b - 1]);
  }
  return d;
}

inline Result reference(const Problem& p, const std::vector<double>& dout) {
  const int64_t H = p.H, D = p.D, B = int64_t(p.cu_q.size()) - 1;
  Result r;
  r.o.assign(size_t(p.tq() * H * D), 0.0);
  r.dq.assign(r.o.size(), 0.0);
  r.dk.assign(size_t(p.tk() * H * D), 0.0);
  r.dv.assign(r.dk.size(), 0.0);
  r.dbias.assign(size_t(p.tk() * H), 0.0);
  auto at = [&](int64_t row, int64_t h) { return size_t((row * H + h) * D); };
  for (int64_t b = 0; b < B; ++b) {
    const int64_t q0 = p.cu_q[b], q1 = p.cu_q[b + 1], k0 = p.cu_k[b], k1 = p.cu_k[b + 1];
    std::vector<int64_t> keys;
    for (int64_t j = k0; j < k1; ++j)
      if (p.mask.empty() || !p.mask[size_t(j)]) keys.push_back(j);
    if (keys.empty()) continue;  // output and gradients stay 0
    const size_t nk = keys.size();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = q0; i < q1; ++i) {
        std::vector<double> s(nk), P(nk), dP(nk);
        double mx = -INFINITY;
        for (size_t j = 0; j < nk; ++j) {
          double d = 0;
          for (int64_t c = 0; c < D; ++c) d += p.q[at(i, h) + c] * p.k[at(keys[j], h) + c];
          s[j] = p.scale * d + (p.bias.empty() ? 0.0 : p.bias[size_t(keys[j] * H + h)]);
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (size_t j = 0; j < nk; ++j) sum += (P[j] = std::exp(s[j] - mx));
        for (size_t j = 0; j < nk; ++j) P[j] /= sum;
        for (size_t j = 0; j < nk; ++j)
          for (int64_t c = 0; c < D; ++c) r.o[at(i, h) + c] += P[j] * p.v[at(keys[j], h) + c];
        double pdp = 0;
        for (size_t j = 0; j < nk; ++j) {
          double d = 0;
          for (int64_t c = 0; c < D; ++c) d += dout[at(i, h) + c] * p.v[at(keys[j], h) + c];
          dP[j] = d;
          pdp += P[j] * d;
        }
        for (size_t j = 0; j < nk; ++j) {
          const double ds = P[j] * (dP[j] - pdp);
          for (int64_t c = 0; c < D; ++c) {
            r.dq[at(i, h) + c] += p.scale * ds * p.k[at(keys[j], h) + c];
            r.dk[at(keys[j], h) + c] += p.scale * ds * p.q[at(i, h) + c];
            r.dv[at(keys[j], h) + c] += P[j] * dout[at(i, h) + c];
          }
          r.dbias[size_t(keys[j] * H + h)] += ds;
        }
      }
  }
  return r;
}

}  // namespace leseg::testing::attn_ref
