// SPDX-License-Identifier: Apache-2.0
#include "engine/nn/init.h"

#include <cmath>

#include "engine/autograd.h"

namespace leseg::init {

namespace {
void check_float(const Tensor& t, const char* op) {
  LESEG_CHECK(t.defined(), "init::", op, ": tensor is undefined");
  LESEG_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, "init::", op, ": dtype ", dtype_name(t.dtype()),
              " not supported (f32, f64)");
}
// Writes `vals` (CPU, same dtype) into t's storage in place, outside autograd.
void assign(Tensor& t, const Tensor& vals) {
  NoGradGuard ng;
  Tensor d = t.detach();
  d.copy_(vals);
}
double fan_of(const Tensor& t, FanMode m, const char* op) {
  Fans f = compute_fans(t.shape());
  double fan = double(m == FanMode::fan_in ? f.in : f.out);
  LESEG_CHECK(fan > 0, "init::", op, ": zero fan for shape ", t.shape().str());
  return fan;
}
}  // namespace

Fans compute_fans(const Shape& s) {
  LESEG_CHECK(s.ndim() >= 1, "init: fans need at least 1 dimension, got shape ", s.str());
  if (s.ndim() == 1) return {s[0], s[0]};
  int64_t rf = s.prod(2, s.ndim());
  return {s[1] * rf, s[0] * rf};
}

double calculate_gain(Nonlinearity nl, double a) {
  switch (nl) {
    case Nonlinearity::linear: case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: return std::sqrt(2.0 / (1.0 + a * a));
    case Nonlinearity::tanh: return 5.0 / 3.0;
  }
  return 1.0;
}

void uniform_(Tensor& t, double lo, double hi, Generator& g) {
  check_float(t, "uniform_");
  LESEG_CHECK(lo <= hi, "init::uniform_: lo ", lo, " > hi ", hi);
  assign(t, uniform(t.shape(), lo, hi, g, t.dtype(), Device::cpu()));
}

void normal_(Tensor& t, double mean, double std, Generator& g) {
  check_float(t, "normal_");
  LESEG_CHECK(std >= 0, "init::normal_: std ", std, " < 0");
  Tensor r = randn(t.shape(), g, t.dtype(), Device::cpu());
  LESEG_DISPATCH_FLOAT(t.dtype(), "init::normal_", {
    scalar_t* p = r.data<scalar_t>();
    for (int64_t i = 0; i < r.numel(); ++i) p[i] = scalar_t(mean + std * double(p[i]));
  });
  assign(t, r);
}

void zeros_(Tensor& t) { constant_(t, 0.0); }
void ones_(Tensor& t) { constant_(t, 1.0); }
void constant_(Tensor& t, double v) {
  LESEG_CHECK(t.defined(), "init::constant_: tensor is undefined");
  NoGradGuard ng;
  t.detach().fill_(v);
}

void kaiming_uniform_(Tensor& t, Generator& g, double a, FanMode mode, Nonlinearity nl) {
  check_float(t, "kaiming_uniform_");
  double bound = calculate_gain(nl, a) * std::sqrt(3.0 / fan_of(t, mode, "kaiming_uniform_"));
  uniform_(t, -bound, bound, g);
}
void kaiming_normal_(Tensor& t, Generator& g, double a, FanMode mode, Nonlinearity nl) {
  check_float(t, "kaiming_normal_");
  normal_(t, 0.0, calculate_gain(nl, a) / std::sqrt(fan_of(t, mode, "kaiming_normal_")), g);
}
void xavier_uniform_(Tensor& t, Generator& g, double gain) {
  check_float(t, "xavier_uniform_");
  Fans f = compute_fans(t.shape());
  LESEG_CHECK(f.in + f.out > 0, "init::xavier_uniform_: zero fans for shape ", t.shape().str());
  double bound = gain * std::sqrt(6.0 / double(f.in + f.out));
  uniform_(t, -bound, bound, g);
}
void xavier_normal_(Tensor& t, Generator& g, double gain) {
  check_float(t, "xavier_normal_");
  Fans f = compute_fans(t.shape());
  LESEG_CHECK(f.in + f.out > 0, "init::xavier_normal_: zero fans for shape ", t.shape().str());
  normal_(t, 0.0, gain * std::sqrt(2.0 / double(f.in + f.out)), g);
}

}  // namespace leseg::init
