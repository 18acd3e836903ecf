// SPDX-License-Identifier: Apache-2.0
#include "dense_oracle.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace leseg::testing {

std::vector<int32_t> random_coords(int B, int extent, double density, int32_t stride, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<int32_t> out;
  for (int b = 0; b < B; ++b)
    for (int x = -extent; x <= extent; ++x)
      for (int y = -extent; y <= extent; ++y)
        for (int z = -extent; z <= extent; ++z)
          if (u(rng) < density) out.insert(out.end(), {b, x * stride, y * stride, z * stride});
  // shuffle rows
  const size_t n = out.size() / 4;
  for (size_t i = n; i > 1; --i) {
    const size_t j = size_t(rng() % i);
    for (int d = 0; d < 4; ++d) std::swap(out[4 * (i - 1) + d], out[4 * j + d]);
  }
  return out;
}

std::vector<double> random_ints(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& e : v) e = double(int(rng() % 5) - 2);
  return v;
}

void oracle_offset(int k, int K, int dilation, int32_t stride, int32_t d[3]) {
  const int idx[3] = {k % K, (k / K) % K, k / (K * K)};
  for (int a = 0; a < 3; ++a) d[a] = ((K % 2 == 1) ? idx[a] - (K - 1) / 2 : idx[a]) * dilation * stride;
}

namespace {
int32_t fdiv(int32_t a, int32_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// A dense (B, X, Y, Z, C) grid covering a box; points outside read as zero.
struct Grid {
  int32_t lo[3], size[3];
  int B, C;
  std::vector<double> v;
  Grid(int32_t lo_[3], int32_t hi_[3], int B_, int C_) : B(B_), C(C_) {
    for (int a = 0; a < 3; ++a) {
      lo[a] = lo_[a];
      size[a] = hi_[a] - lo_[a] + 1;
    }
    v.assign(size_t(B) * size[0] * size[1] * size[2] * C, 0.0);
  }
  double* at(int b, int32_t x, int32_t y, int32_t z) {
    const int32_t p[3] = {x - lo[0], y - lo[1], z - lo[2]};
    for (int a = 0; a < 3; ++a)
      if (p[a] < 0 || p[a] >= size[a]) return nullptr;
    return v.data() + ((((size_t(b) * size[0] + p[0]) * size[1] + p[1]) * size[2] + p[2]) * C);
  }
};
}  // namespace

DenseConvResult dense_conv(const std::vector<int32_t>& in_coords, const std::vector<double>& x, int c_in,
                           const std::vector<int32_t>& out_coords, const std::vector<double>& w, int c_out,
                           const std::vector<double>& bias, const std::vector<double>& g, int K, int dilation,
                           int32_t in_stride, int32_t out_stride, bool transposed) {
  const int64_t n_in = int64_t(in_coords.size() / 4), n_out = int64_t(out_coords.size() / 4);
  const int V = K * K * K;
  int B = 1;
  int32_t lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
  bool first = true;
  for (const auto* cs : {&in_coords, &out_coords})
    for (size_t i = 0; i < cs->size(); i += 4) {
      B = std::max(B, (*cs)[i] + 1);
      for (int a = 0; a < 3; ++a) {
        const int32_t c = (*cs)[i + 1 + a];
        lo[a] = first ? c : std::min(lo[a], c);
        hi[a] = first ? c : std::max(hi[a], c);
      }
      first = false;
    }
  // the box, padded by the kernel reach and aligned to the coarse lattice
  const int32_t fine = transposed ? out_stride : in_stride, coarse = transposed ? in_stride : out_stride;
  const int32_t pad = K * dilation * fine + 2 * coarse;
  for (int a = 0; a < 3; ++a) {
    lo[a] = fdiv(lo[a] - pad, 2 * coarse) * 2 * coarse;
    hi[a] = hi[a] + pad;
  }
  // densify input and output gradient
  Grid X(lo, hi, B, c_in), G(lo, hi, B, c_out), Y(lo, hi, B, c_out), GX(lo, hi, B, c_in);
  for (int64_t i = 0; i < n_in; ++i) {
    const int32_t* c = &in_coords[4 * i];
    std::copy(&x[i * c_in], &x[i * c_in] + c_in, X.at(c[0], c[1], c[2], c[3]));
  }
  for (int64_t j = 0; j < n_out; ++j) {
    const int32_t* c = &out_coords[4 * j];
    std::copy(&g[j * c_out], &g[j * c_out] + c_out, G.at(c[0], c[1], c[2], c[3]));
  }
  DenseConvResult r;
  r.gw.assign(size_t(V) * c_in * c_out, 0.0);
  r.gb.assign(size_t(c_out), 0.0);
  // Loop over the coarse lattice q (output for a forward conv, input for a transposed one); the fine point is
  // p = q + off_k (stride-1 convs: q and p on the same lattice).
  const int32_t qstep = coarse;
  for (int b = 0; b < B; ++b)
    for (int32_t qx = lo[0]; qx <= hi[0]; qx += qstep)
      for (int32_t qy = lo[1]; qy <= hi[1]; qy += qstep)
        for (int32_t qz = lo[2]; qz <= hi[2]; qz += qstep)
          for (int k = 0; k < V; ++k) {
            int32_t d[3];
            oracle_offset(k, K, dilation, fine, d);
            const int32_t px = qx + d[0], py = qy + d[1], pz = qz + d[2];
            const double* wk = &w[size_t(k) * c_in * c_out];
            if (!transposed) {
              // Y[q] += W_k^T X[p];  GX[p] += W_k G[q];  gW_k += X[p]^T G[q]
              double* yq = Y.at(b, qx, qy, qz);
              const double* xp = X.at(b, px, py, pz);
              double* gxp = GX.at(b, px, py, pz);
              const double* gq = G.at(b, qx, qy, qz);
              if (!yq || !xp) continue;
              for (int ci = 0; ci < c_in; ++ci)
                for (int co = 0; co < c_out; ++co) {
                  yq[co] += xp[ci] * wk[ci * c_out + co];
                  gxp[ci] += gq[co] * wk[ci * c_out + co];
                  r.gw[size_t(k) * c_in * c_out + ci * c_out + co] += xp[ci] * gq[co];
                }
            } else {
              // Y[p] += W_k^T X[q];  GX[q] += W_k G[p];  gW_k += X[q]^T G[p]
              double* yp = Y.at(b, px, py, pz);
              const double* xq = X.at(b, qx, qy, qz);
              double* gxq = GX.at(b, qx, qy, qz);
              const double* gp = G.at(b, px, py, pz);
              if (!yp || !xq) continue;
              for (int ci = 0; ci < c_in; ++ci)
                for (int co = 0; co < c_out; ++co) {
                  yp[co] += xq[ci] * wk[ci * c_out + co];
                  gxq[ci] += gp[co] * wk[ci * c_out + co];
                  r.gw[size_t(k) * c_in * c_out + ci * c_out + co] += xq[ci] * gp[co];
                }
            }
          }
  r.y.resize(static_cast<size_t>(n_out * c_out));
  for (int64_t j = 0; j < n_out; ++j) {
    const int32_t* c = &out_coords[4 * j];
    const double* yj = Y.at(c[0], c[1], c[2], c[3]);
    if (!yj) throw std::runtime_error("dense_conv: output outside the grid");
    for (int co = 0; co < c_out; ++co) {
      r.y[j * c_out + co] = yj[co] + (bias.empty() ? 0.0 : bias[co]);
      r.gb[co] += g[j * c_out + co];
    }
  }
  r.gx.resize(static_cast<size_t>(n_in * c_in));
  for (int64_t i = 0; i < n_in; ++i) {
    const int32_t* c = &in_coords[4 * i];
    std::copy(GX.at(c[0], c[1], c[2], c[3]), GX.at(c[0], c[1], c[2], c[3]) + c_in, &r.gx[i * c_in]);
  }
  return r;
}

std::vector<int32_t> oracle_downsample(const std::vector<int32_t>& coords, int32_t s2) {
  std::set<Coord> seen;
  std::vector<int32_t> out;
  for (size_t i = 0; i < coords.size(); i += 4) {
    Coord c{coords[i], fdiv(coords[i + 1], s2) * s2, fdiv(coords[i + 2], s2) * s2, fdiv(coords[i + 3], s2) * s2};
    if (seen.insert(c).second) out.insert(out.end(), {std::get<0>(c), std::get<1>(c), std::get<2>(c), std::get<3>(c)});
  }
  return out;
}

}  // namespace leseg::testing
