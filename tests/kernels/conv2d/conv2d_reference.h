// SPDX-License-Identifier: Apache-2.0
// Test oracles for conv2d: the direct 7-loop convolution and its adjoints, in double (no im2col, no GEMM).
#pragma once
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "engine/tensor.h"

namespace leseg::testing {

struct ConvCfg {
  int64_t n, ci, h, w, co, kh, kw, sh, sw, ph, pw, dh, dw;
  bool bias;
  int64_t ho() const { return (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1; }
  int64_t wo() const { return (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1; }
};

struct ConvRef {
  std::vector<double> y, dx, dw, db;
};

// y = conv(x, w) + b; dx, dw, db for the upstream gradient gy (all row-major, PyTorch layouts).
inline ConvRef conv_reference(const ConvCfg& c, const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<double>& b, const std::vector<double>& gy) {
  const int64_t Ho = c.ho(), Wo = c.wo();
  ConvRef r;
  r.y.assign(size_t(c.n * c.co * Ho * Wo), 0.0);
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.db.assign(size_t(c.co), 0.0);
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t o = 0; o < c.co; ++o)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          const size_t yi = size_t(((n * c.co + o) * Ho + oy) * Wo + ox);
          double acc = c.bias ? b[size_t(o)] : 0.0;
          const double g = gy[yi];
          r.db[size_t(o)] += g;
          for (int64_t ci = 0; ci < c.ci; ++ci)
            for (int64_t i = 0; i < c.kh; ++i)
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t iy = oy * c.sh - c.ph + i * c.dh, ix = ox * c.sw - c.pw + j * c.dw;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                const size_t xi = size_t(((n * c.ci + ci) * c.h + iy) * c.w + ix);
                const size_t wi = size_t(((o * c.ci + ci) * c.kh + i) * c.kw + j);
                acc += w[wi] * x[xi];
                r.dx[xi] += w[wi] * g;
                r.dw[wi] += x[xi] * g;
              }
          r.y[yi] = acc;
        }
  return r;
}

// |a − b| <= atol + rtol·|b| element by element; prints the first mismatches; asserts ref is non-trivial.
inline void expect_close(const std::vector<double>& got, const std::vector<double>& ref, double atol, double rtol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < got.size(); ++i) {
    nonzero |= ref[i] != 0;
    if (!(std::abs(got[i] - ref[i]) <= atol + rtol * std::abs(ref[i])) && bad++ < 5)
      ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", expected " << ref[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " mismatches of " << got.size();
  EXPECT_TRUE(nonzero) << what << ": reference is all zeros";
}

}  // namespace leseg::testing
