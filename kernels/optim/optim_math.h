// SPDX-License-Identifier: Apache-2.0
// Per-element optimizer math shared by the CPU twin and the CUDA kernels (one definition, LESEG_HD).
// Formulas follow torch.optim exactly (SGD, Adam, AdamW with the same operation order), so results agree
// with PyTorch to rounding. Hyper-parameters that depend on the step (bias corrections) are computed once
// on the host in double and passed in as T.
#pragma once
#include <cmath>

#include "kernels/common/hd.h"

namespace leseg::kernels {

LESEG_HD float optim_sqrt(float x) { return sqrtf(x); }
LESEG_HD double optim_sqrt(double x) { return sqrt(x); }

// SGD hyper-parameters for one step.
//   d = g + wd * p
//   momentum != 0: buf = first_step ? d : momentum * buf + (1 - dampening) * d
//                  d = nesterov ? d + momentum * buf : buf
//   p -= lr * d
template <class T>
struct SgdParams {
  T lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};

template <class T>
LESEG_HD void sgd_update(T& p, T g, T* buf, const SgdParams<T>& h) {
  T d = g;
  if (h.weight_decay != T(0)) d = d + h.weight_decay * p;
  if (h.momentum != T(0)) {
    T b = h.first_step ? d : h.momentum * (*buf) + (T(1) - h.dampening) * d;
    *buf = b;
    d = h.nesterov ? d + h.momentum * b : b;
  }
  p = p - h.lr * d;
}

// Adam / AdamW hyper-parameters for one step (step counted from 1).
//   Adam : g += wd * p (coupled L2);       AdamW: p *= (1 - lr * wd) (decoupled)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   amsgrad: vmax = max(vmax, v), use vmax below
//   p -= step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t)
template <class T>
struct AdamParams {
  T lr, beta1, beta2, eps, weight_decay;
  T step_size;  // lr / (1 - beta1^t)
  T bc2_sqrt;   // sqrt(1 - beta2^t)
  bool decoupled;  // AdamW
  bool amsgrad;
};

template <class T>
LESEG_HD void adam_update(T& p, T g, T& m, T& v, T* vmax, const AdamParams<T>& h) {
  if (h.weight_decay != T(0)) {
    if (h.decoupled)
      p = p * (T(1) - h.lr * h.weight_decay);
    else
      g = g + h.weight_decay * p;
  }
  m = h.beta1 * m + (T(1) - h.beta1) * g;
  v = h.beta2 * v + (T(1) - h.beta2) * g * g;
  T vv = v;
  if (h.amsgrad) {
    T mx = *vmax > v ? *vmax : v;
    *vmax = mx;
    vv = mx;
  }
  T denom = optim_sqrt(vv) / h.bc2_sqrt + h.eps;
  p = p - h.step_size * (m / denom);
}

// EMA (MeanTeacher): t = m * t + (1 - m) * s
template <class T>
LESEG_HD void ema_lerp(T& t, T s, T momentum) { t = momentum * t + (T(1) - momentum) * s; }

// Norm kinds for gradient clipping: partial sums of |x| (L1), x^2 (L2, squared) or max |x| (Linf).
enum class NormKind : int { L1 = 1, L2 = 2, Linf = 3 };

LESEG_HD double norm_term(double x, NormKind k) {
  double a = x < 0 ? -x : x;
  return k == NormKind::L2 ? a * a : a;
}
LESEG_HD double norm_combine(double acc, double term, NormKind k) {
  if (k == NormKind::Linf) return acc > term ? acc : term;
  return acc + term;
}

}  // namespace leseg::kernels
