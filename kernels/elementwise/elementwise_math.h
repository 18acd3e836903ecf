// SPDX-License-Identifier: Apache-2.0
// Per-element math shared by the CPU twin and the CUDA kernels (one definition, LESEG_HD).
// Binary functors: f(a, b), da(a, b) = ∂f/∂a, db(a, b) = ∂f/∂b.
// Unary functors:  f(x, p), df(x, y, p) = dy/dx given x and y = f(x) (p: UnaryParams).
// Conventions at kinks (documented, tested):
//   maximum/minimum: on a tie the gradient is split 0.5 / 0.5 between the inputs.
//   abs: d/dx at 0 is 0.  relu: d/dx at 0 is 0.  clamp: gradient 1 only strictly inside (lo, hi).
//   pow(a, b): ∂/∂a = b a^(b-1) (0 when b == 0); ∂/∂b = a^b log a (0 when a == 0; NaN for a < 0).
#pragma once
#include <math.h>

#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

// Overloads that pick the float or double libm/CUDA function (global-qualified so engine-level
// leseg::exp(Tensor) etc. never hide them).
namespace m {
LESEG_HD float exp(float x) { return ::expf(x); }
LESEG_HD double exp(double x) { return ::exp(x); }
LESEG_HD float log(float x) { return ::logf(x); }
LESEG_HD double log(double x) { return ::log(x); }
LESEG_HD float sqrt(float x) { return ::sqrtf(x); }
LESEG_HD double sqrt(double x) { return ::sqrt(x); }
LESEG_HD float tanh(float x) { return ::tanhf(x); }
LESEG_HD double tanh(double x) { return ::tanh(x); }
LESEG_HD float erf(float x) { return ::erff(x); }
LESEG_HD double erf(double x) { return ::erf(x); }
LESEG_HD float pow(float x, float y) { return ::powf(x, y); }
LESEG_HD double pow(double x, double y) { return ::pow(x, y); }
LESEG_HD float abs(float x) { return ::fabsf(x); }
LESEG_HD double abs(double x) { return ::fabs(x); }
}  // namespace m

// ---------------------------------------------------------------- binary
enum class BinaryOp : uint8_t { add, sub, mul, div, pow, maximum, minimum };

struct AddF {
  template <class T> LESEG_HD static T f(T a, T b) { return a + b; }
  template <class T> LESEG_HD static T da(T, T) { return T(1); }
  template <class T> LESEG_HD static T db(T, T) { return T(1); }
};
struct SubF {
  template <class T> LESEG_HD static T f(T a, T b) { return a - b; }
  template <class T> LESEG_HD static T da(T, T) { return T(1); }
  template <class T> LESEG_HD static T db(T, T) { return T(-1); }
};
struct MulF {
  template <class T> LESEG_HD static T f(T a, T b) { return a * b; }
  template <class T> LESEG_HD static T da(T, T b) { return b; }
  template <class T> LESEG_HD static T db(T a, T) { return a; }
};
struct DivF {
  template <class T> LESEG_HD static T f(T a, T b) { return a / b; }
  template <class T> LESEG_HD static T da(T, T b) { return T(1) / b; }
  template <class T> LESEG_HD static T db(T a, T b) { return -a / (b * b); }
};
struct PowF {
  template <class T> LESEG_HD static T f(T a, T b) { return m::pow(a, b); }
  template <class T> LESEG_HD static T da(T a, T b) { return b == T(0) ? T(0) : b * m::pow(a, b - T(1)); }
  template <class T> LESEG_HD static T db(T a, T b) { return a == T(0) ? T(0) : m::pow(a, b) * m::log(a); }
};
struct MaximumF {
  template <class T> LESEG_HD static T f(T a, T b) { return a >= b ? a : b; }
  template <class T> LESEG_HD static T da(T a, T b) { return a > b ? T(1) : (a == b ? T(0.5) : T(0)); }
  template <class T> LESEG_HD static T db(T a, T b) { return b > a ? T(1) : (a == b ? T(0.5) : T(0)); }
};
struct MinimumF {
  template <class T> LESEG_HD static T f(T a, T b) { return a <= b ? a : b; }
  template <class T> LESEG_HD static T da(T a, T b) { return a < b ? T(1) : (a == b ? T(0.5) : T(0)); }
  template <class T> LESEG_HD static T db(T a, T b) { return b < a ? T(1) : (a == b ? T(0.5) : T(0)); }
};

// ---------------------------------------------------------------- unary
enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, abs, relu, leaky_relu, gelu, gelu_tanh, sigmoid, tanh, clamp, square, reciprocal
};

// p0: leaky_relu slope / clamp lo; p1: clamp hi.
struct UnaryParams {
  double p0 = 0, p1 = 0;
};

struct NegF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return -x; }
  template <class T> LESEG_HD static T df(T, T, const UnaryParams&) { return T(-1); }
};
struct ExpF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return m::exp(x); }
  template <class T> LESEG_HD static T df(T, T y, const UnaryParams&) { return y; }
};
struct LogF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return m::log(x); }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams&) { return T(1) / x; }
};
struct SqrtF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return m::sqrt(x); }
  template <class T> LESEG_HD static T df(T, T y, const UnaryParams&) { return T(0.5) / y; }
};
struct RsqrtF {  // y = x^(-1/2), dy/dx = -y^3 / 2
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return T(1) / m::sqrt(x); }
  template <class T> LESEG_HD static T df(T, T y, const UnaryParams&) { return T(-0.5) * y * y * y; }
};
struct AbsF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return m::abs(x); }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams&) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
};
struct ReluF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return x > T(0) ? x : T(0); }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams&) { return x > T(0) ? T(1) : T(0); }
};
struct LeakyReluF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams& p) { return x > T(0) ? x : T(p.p0) * x; }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams& p) { return x > T(0) ? T(1) : T(p.p0); }
};
// Exact GELU: y = x Φ(x) = 0.5 x (1 + erf(x / √2)); dy/dx = Φ(x) + x φ(x), φ(x) = exp(-x²/2) / √(2π).
struct GeluF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) {
    return T(0.5) * x * (T(1) + m::erf(x * T(0.70710678118654752440)));
  }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams&) {
    T cdf = T(0.5) * (T(1) + m::erf(x * T(0.70710678118654752440)));
    T pdf = m::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return cdf + x * pdf;
  }
};
// Tanh GELU: y = 0.5 x (1 + t), t = tanh(k (x + c x³)), k = √(2/π), c = 0.044715;
// dy/dx = 0.5 (1 + t) + 0.5 x (1 - t²) k (1 + 3 c x²).
struct GeluTanhF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) {
    T t = m::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x));
    return T(0.5) * x * (T(1) + t);
  }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams&) {
    T t = m::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x));
    return T(0.5) * (T(1) + t) +
           T(0.5) * x * (T(1) - t * t) * T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * x * x);
  }
};
// Sigmoid in the overflow-free form; dy/dx = y (1 - y).
struct SigmoidF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) {
    if (x >= T(0)) return T(1) / (T(1) + m::exp(-x));
    T e = m::exp(x);
    return e / (T(1) + e);
  }
  template <class T> LESEG_HD static T df(T, T y, const UnaryParams&) { return y * (T(1) - y); }
};
struct TanhF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return m::tanh(x); }
  template <class T> LESEG_HD static T df(T, T y, const UnaryParams&) { return T(1) - y * y; }
};
struct ClampF {  // p0 = lo, p1 = hi (±inf allowed)
  template <class T> LESEG_HD static T f(T x, const UnaryParams& p) {
    T lo = T(p.p0), hi = T(p.p1);
    return x < lo ? lo : (x > hi ? hi : x);
  }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams& p) {
    return (x > T(p.p0) && x < T(p.p1)) ? T(1) : T(0);
  }
};
struct SquareF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return x * x; }
  template <class T> LESEG_HD static T df(T x, T, const UnaryParams&) { return T(2) * x; }
};
struct ReciprocalF {
  template <class T> LESEG_HD static T f(T x, const UnaryParams&) { return T(1) / x; }
  template <class T> LESEG_HD static T df(T, T y, const UnaryParams&) { return -y * y; }
};

// Calls F::template run<Functor>() for a runtime op (host side; the switch sits outside every loop).
template <class R, class V>
R visit_binary(BinaryOp op, V&& v) {
  switch (op) {
    case BinaryOp::add: return v(AddF{});
    case BinaryOp::sub: return v(SubF{});
    case BinaryOp::mul: return v(MulF{});
    case BinaryOp::div: return v(DivF{});
    case BinaryOp::pow: return v(PowF{});
    case BinaryOp::maximum: return v(MaximumF{});
    case BinaryOp::minimum: return v(MinimumF{});
  }
  return v(AddF{});
}
template <class R, class V>
R visit_unary(UnaryOp op, V&& v) {
  switch (op) {
    case UnaryOp::neg: return v(NegF{});
    case UnaryOp::exp: return v(ExpF{});
    case UnaryOp::log: return v(LogF{});
    case UnaryOp::sqrt: return v(SqrtF{});
    case UnaryOp::rsqrt: return v(RsqrtF{});
    case UnaryOp::abs: return v(AbsF{});
    case UnaryOp::relu: return v(ReluF{});
    case UnaryOp::leaky_relu: return v(LeakyReluF{});
    case UnaryOp::gelu: return v(GeluF{});
    case UnaryOp::gelu_tanh: return v(GeluTanhF{});
    case UnaryOp::sigmoid: return v(SigmoidF{});
    case UnaryOp::tanh: return v(TanhF{});
    case UnaryOp::clamp: return v(ClampF{});
    case UnaryOp::square: return v(SquareF{});
    case UnaryOp::reciprocal: return v(ReciprocalF{});
  }
  return v(NegF{});
}

}  // namespace leseg::kernels
