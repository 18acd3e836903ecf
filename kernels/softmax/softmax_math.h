// SPDX-License-Identifier: Apache-2.0
// Per-element softmax formulas shared by the CPU twin and the CUDA kernels (see softmax.h).
#pragma once
#include <cmath>

#include "kernels/common/hd.h"

namespace leseg::kernels {

// Forward element from x, the row max m and the row sum s = Σ exp(x − m).
template <class T>
LESEG_HD T softmax_out(T x, double m, double s, bool log) {
  return log ? T(double(x) - m - ::log(s)) : T(exp(double(x) - m) / s);
}
// Term summed over the row for the backward: Σ g·y (softmax) or Σ g (log_softmax).
template <class T>
LESEG_HD double softmax_bwd_term(T g, T y, bool log) {
  return log ? double(g) : double(g) * double(y);
}
// Backward element from g, y and the row sum of softmax_bwd_term.
template <class T>
LESEG_HD T softmax_bwd_out(T g, T y, double dot, bool log) {
  return log ? T(double(g) - exp(double(y)) * dot) : T(double(y) * (double(g) - dot));
}

}  // namespace leseg::kernels
