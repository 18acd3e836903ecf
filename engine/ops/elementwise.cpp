// SPDX-License-Identifier: Apache-2.0
// Elementwise ops: checks, broadcasting plans, kernel dispatch (kernels/elementwise, kernels/compare) and
// backward closures. Binary backward computes output-shaped gradients with the derivative functors and
// sums them back to each input's shape with sum_to.
#include "engine/ops/elementwise.h"

#include "kernels/device_error/device_error.h"
#include "kernels/index/index.h"

#include "engine/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/reduce.h"
#include "kernels/compare/compare.h"
#include "kernels/elementwise/elementwise.h"

namespace leseg {

namespace {

using kernels::BinaryOp;
using kernels::BroadcastIndex;
using kernels::CompareOp;
using kernels::UnaryOp;
using kernels::UnaryParams;

void check_float(const char* name, const Tensor& x, const char* what) {
  LESEG_CHECK(x.defined(), name, ": undefined ", what);
  LESEG_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, name, ": ", what, " has dtype ", dtype_name(x.dtype()),
              " (supported: f32, f64), ", x.str());
}
void check_pair(const char* name, const Tensor& a, const Tensor& b) {
  LESEG_CHECK(a.defined() && b.defined(), name, ": undefined input");
  LESEG_CHECK(a.dtype() == b.dtype(), name, ": inputs must share a dtype, got ", dtype_name(a.dtype()), " and ",
              dtype_name(b.dtype()), " (", a.str(), ", ", b.str(), ")");
  LESEG_CHECK(a.device() == b.device(), name, ": inputs on different devices: ", a.str(), ", ", b.str());
}

BroadcastIndex make_index(const Shape& out, std::initializer_list<const Shape*> ops) {
  std::vector<std::vector<int64_t>> v;
  for (const Shape* s : ops) v.push_back(s->vec());
  return kernels::make_broadcast_index(out.vec(), v);
}

Tensor binary(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  // f16/bf16 input: arithmetic in f32, one rounding at the store (engine/precision.h)
  // (a half and an f32 operand promote to f32, as PyTorch's type promotion).
  if (a.defined() && b.defined() && (is_half_dtype(a.dtype()) || is_half_dtype(b.dtype())) &&
      autocast_eligible(a.dtype()) && autocast_eligible(b.dtype()))
    return store_as(binary(op, name, upcast(a), upcast(b)), a.dtype() == b.dtype() ? a.dtype() : DType::f32);
  check_pair(name, a, b);
  check_float(name, a, "first input");
  const Shape os = broadcast_shapes(a.shape(), b.shape());
  const Device dev = a.device();
  Tensor out = Tensor::empty(os, a.dtype(), dev);
  const bool same = a.shape() == os && b.shape() == os;
  const BroadcastIndex bi = make_index(os, {&a.shape(), &b.shape()});
  const BroadcastIndex* pbi = same ? nullptr : &bi;
  const int64_t n = out.numel();
  LESEG_DISPATCH_FLOAT(a.dtype(), name, {
    LESEG_DISPATCH_DEVICE(dev, name,
                          kernels::binary_forward_cpu<scalar_t>(op, a.data<scalar_t>(), b.data<scalar_t>(), out.data<scalar_t>(), n, pbi),
                          kernels::binary_forward_cuda<scalar_t>(op, a.data<scalar_t>(), b.data<scalar_t>(), out.data<scalar_t>(), n, pbi,
                                                                 current_stream(dev)));
  });
  if (!any_needs_grad({a, b})) return out;
  const bool need_a = needs_grad(a), need_b = needs_grad(b);
  const Shape as = a.shape(), bs = b.shape();
  if (op == BinaryOp::add || op == BinaryOp::sub) {  // derivatives are constants: no saved tensors
    const bool is_sub = op == BinaryOp::sub;
    return record(name, {a, b}, out, [=](const std::vector<Tensor>& g) {
      Tensor ga = need_a ? sum_to(g[0], as) : Tensor();
      Tensor gb = need_b ? sum_to(is_sub ? neg(g[0]) : g[0], bs) : Tensor();
      return std::vector<Tensor>{ga, gb};
    });
  }
  SavedTensor sa(a), sb(b);
  return record(name, {a, b}, out, [=](const std::vector<Tensor>& g) {
    const Tensor& A = sa.get(name);
    const Tensor& B = sb.get(name);
    const Tensor& go = g[0];
    const BroadcastIndex* pbi = same ? nullptr : &bi;  // the closure's own copy of bi
    Tensor ga = need_a ? Tensor::empty(os, go.dtype(), dev) : Tensor();
    Tensor gb = need_b ? Tensor::empty(os, go.dtype(), dev) : Tensor();
    LESEG_DISPATCH_FLOAT(go.dtype(), name, {
      scalar_t* pa = need_a ? ga.data<scalar_t>() : nullptr;
      scalar_t* pb = need_b ? gb.data<scalar_t>() : nullptr;
      LESEG_DISPATCH_DEVICE(dev, name,
                            kernels::binary_backward_cpu<scalar_t>(op, A.data<scalar_t>(), B.data<scalar_t>(), go.data<scalar_t>(), pa, pb, n, pbi),
                            kernels::binary_backward_cuda<scalar_t>(op, A.data<scalar_t>(), B.data<scalar_t>(), go.data<scalar_t>(), pa, pb, n,
                                                                    pbi, current_stream(dev)));
    });
    return std::vector<Tensor>{need_a ? sum_to(ga, as) : Tensor(), need_b ? sum_to(gb, bs) : Tensor()};
  });
}

// F(x, s) or F(s, x) with a host scalar s.
Tensor binary_scalar(BinaryOp op, const char* name, const Tensor& x, double s, bool scalar_first) {
  // f16/bf16 input: arithmetic in f32, one rounding at the store (engine/precision.h)
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(binary_scalar(op, name, upcast(x), s, scalar_first), x.dtype());
  check_float(name, x, "input");
  const Device dev = x.device();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  const int64_t n = out.numel();
  LESEG_DISPATCH_FLOAT(x.dtype(), name, {
    LESEG_DISPATCH_DEVICE(dev, name,
                          kernels::binary_scalar_forward_cpu<scalar_t>(op, x.data<scalar_t>(), scalar_t(s), scalar_first, out.data<scalar_t>(), n),
                          kernels::binary_scalar_forward_cuda<scalar_t>(op, x.data<scalar_t>(), scalar_t(s), scalar_first, out.data<scalar_t>(),
                                                                        n, current_stream(dev)));
  });
  if (!any_needs_grad({x})) return out;
  SavedTensor sx(x);
  return record(name, {x}, out, [=](const std::vector<Tensor>& g) {
    const Tensor& X = sx.get(name);
    const Tensor& go = g[0];
    Tensor gx = Tensor::empty(X.shape(), go.dtype(), dev);
    LESEG_DISPATCH_FLOAT(go.dtype(), name, {
      LESEG_DISPATCH_DEVICE(dev, name,
                            kernels::binary_scalar_backward_cpu<scalar_t>(op, X.data<scalar_t>(), scalar_t(s), scalar_first, go.data<scalar_t>(),
                                                                          gx.data<scalar_t>(), n),
                            kernels::binary_scalar_backward_cuda<scalar_t>(op, X.data<scalar_t>(), scalar_t(s), scalar_first, go.data<scalar_t>(),
                                                                           gx.data<scalar_t>(), n, current_stream(dev)));
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor unary(UnaryOp op, const char* name, const Tensor& x, UnaryParams p = {}) {
  // f16/bf16 input: arithmetic in f32, one rounding at the store (engine/precision.h)
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(unary(op, name, upcast(x), p), x.dtype());
  check_float(name, x, "input");
  const Device dev = x.device();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), dev);
  const int64_t n = out.numel();
  LESEG_DISPATCH_FLOAT(x.dtype(), name, {
    LESEG_DISPATCH_DEVICE(dev, name, kernels::unary_forward_cpu<scalar_t>(op, x.data<scalar_t>(), out.data<scalar_t>(), n, p),
                          kernels::unary_forward_cuda<scalar_t>(op, x.data<scalar_t>(), out.data<scalar_t>(), n, p, current_stream(dev)));
  });
  if (!any_needs_grad({x})) return out;
  // The output is saved detached (shares storage, no grad_fn): saving `out` itself would make a cycle.
  SavedTensor sx(x), sy(out.detach());
  return record(name, {x}, out, [=](const std::vector<Tensor>& g) {
    const Tensor& X = sx.get(name);
    const Tensor& Y = sy.get(name);
    const Tensor& go = g[0];
    Tensor gx = Tensor::empty(X.shape(), go.dtype(), dev);
    LESEG_DISPATCH_FLOAT(go.dtype(), name, {
      LESEG_DISPATCH_DEVICE(dev, name,
                            kernels::unary_backward_cpu<scalar_t>(op, X.data<scalar_t>(), Y.data<scalar_t>(), go.data<scalar_t>(),
                                                                  gx.data<scalar_t>(), n, p),
                            kernels::unary_backward_cuda<scalar_t>(op, X.data<scalar_t>(), Y.data<scalar_t>(), go.data<scalar_t>(),
                                                                   gx.data<scalar_t>(), n, p, current_stream(dev)));
    });
    return std::vector<Tensor>{gx};
  });
}

void check_mask(const char* name, const Tensor& m) {
  LESEG_CHECK(m.defined(), name, ": undefined mask");
  LESEG_CHECK(m.dtype() == DType::u8 || m.dtype() == DType::b8, name, ": condition/mask must be u8 or bool, got ",
              dtype_name(m.dtype()), " (", m.str(), ")");
}

// u8/bool storage is one byte either way.
const uint8_t* mask_ptr(const Tensor& m) { return static_cast<const uint8_t*>(m.data_ptr()); }

#define LESEG_DISPATCH_COMPARE(t, opname, ...)      \
  switch (t) {                                      \
    LESEG_DTYPE_CASE(f32, float, __VA_ARGS__)       \
    LESEG_DTYPE_CASE(f64, double, __VA_ARGS__)      \
    LESEG_DTYPE_CASE(i32, int32_t, __VA_ARGS__)     \
    LESEG_DTYPE_CASE(i64, int64_t, __VA_ARGS__)     \
    LESEG_DTYPE_CASE(u8, uint8_t, __VA_ARGS__)      \
    LESEG_DTYPE_CASE(b8, uint8_t, __VA_ARGS__)      \
    default: LESEG_FAIL(opname, ": dtype ", ::leseg::dtype_name(t), " not supported (f32, f64, i32, i64, u8, bool)"); \
  }

Tensor compare(CompareOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_pair(name, a, b);
  const Shape os = broadcast_shapes(a.shape(), b.shape());
  const Device dev = a.device();
  Tensor out = Tensor::empty(os, DType::u8, dev);
  const bool same = a.shape() == os && b.shape() == os;
  const BroadcastIndex bi = make_index(os, {&a.shape(), &b.shape()});
  const BroadcastIndex* pbi = same ? nullptr : &bi;
  const int64_t n = out.numel();
  uint8_t* po = out.data<uint8_t>();
  LESEG_DISPATCH_COMPARE(a.dtype(), name, {
    const scalar_t* pa = static_cast<const scalar_t*>(a.data_ptr());
    const scalar_t* pb = static_cast<const scalar_t*>(b.data_ptr());
    LESEG_DISPATCH_DEVICE(dev, name, kernels::compare_cpu<scalar_t>(op, pa, pb, po, n, pbi),
                          kernels::compare_cuda<scalar_t>(op, pa, pb, po, n, pbi, current_stream(dev)));
  });
  return out;
}
Tensor compare_scalar(CompareOp op, const char* name, const Tensor& a, double s) {
  LESEG_CHECK(a.defined(), name, ": undefined input");
  const Device dev = a.device();
  Tensor out = Tensor::empty(a.shape(), DType::u8, dev);
  const int64_t n = out.numel();
  uint8_t* po = out.data<uint8_t>();
  LESEG_DISPATCH_COMPARE(a.dtype(), name, {
    const scalar_t* pa = static_cast<const scalar_t*>(a.data_ptr());
    LESEG_DISPATCH_DEVICE(dev, name, kernels::compare_scalar_cpu<scalar_t>(op, pa, scalar_t(s), po, n),
                          kernels::compare_scalar_cuda<scalar_t>(op, pa, scalar_t(s), po, n, current_stream(dev)));
  });
  return out;
}

}  // namespace

// ---------------------------------------------------------------- broadcasting helpers
Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const int nd = a.ndim() > b.ndim() ? a.ndim() : b.ndim();
  Shape out;
  for (int d = 0; d < nd; ++d) {
    const int ia = d - (nd - a.ndim()), ib = d - (nd - b.ndim());
    const int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
    LESEG_CHECK(sa == sb || sa == 1 || sb == 1, "shapes ", a.str(), " and ", b.str(), " are not broadcastable (dim ", d,
                ": ", sa, " vs ", sb, ")");
    out.push_back(sa == 1 ? sb : sa);
  }
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_float("broadcast_to", x, "input");
  LESEG_CHECK(broadcast_shapes(x.shape(), shape) == shape, "broadcast_to: ", x.str(), " does not broadcast to ", shape.str());
  if (x.shape() == shape) return x;
  const Device dev = x.device();
  Tensor out = Tensor::empty(shape, x.dtype(), dev);
  const BroadcastIndex bi = make_index(shape, {&x.shape()});
  const int64_t n = out.numel();
  LESEG_DISPATCH_FLOAT(x.dtype(), "broadcast_to", {
    LESEG_DISPATCH_DEVICE(dev, "broadcast_to", kernels::broadcast_copy_cpu<scalar_t>(x.data<scalar_t>(), out.data<scalar_t>(), n, bi),
                          kernels::broadcast_copy_cuda<scalar_t>(x.data<scalar_t>(), out.data<scalar_t>(), n, bi, current_stream(dev)));
  });
  const Shape xs = x.shape();
  return record("broadcast_to", {x}, out, [xs](const std::vector<Tensor>& g) { return std::vector<Tensor>{sum_to(g[0], xs)}; });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  LESEG_CHECK(g.defined(), "sum_to: undefined tensor");
  if (g.shape() == shape) return g;
  LESEG_CHECK(shape.ndim() <= g.ndim() && broadcast_shapes(shape, g.shape()) == g.shape(), "sum_to: ", g.str(),
              " cannot be summed to ", shape.str(), " (", shape.str(), " does not broadcast to ", g.shape().str(), ")");
  Tensor r = g;
  const int lead = g.ndim() - shape.ndim();
  if (lead > 0) {
    Shape flat{g.shape().prod(0, lead)};
    for (int d = lead; d < g.ndim(); ++d) flat.push_back(g.shape()[d]);
    r = sum(r.reshape(flat), 0, false);
  }
  for (int d = 0; d < shape.ndim(); ++d)
    if (shape[d] == 1 && r.shape()[d] != 1) r = sum(r, d, true);
  return r.reshape(shape);
}

// ---------------------------------------------------------------- binary
Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, "add", a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, "div", a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::pow, "pow", a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::minimum, "minimum", a, b); }
Tensor add(const Tensor& a, double s) { return binary_scalar(BinaryOp::add, "add", a, s, false); }
Tensor add(double s, const Tensor& a) { return binary_scalar(BinaryOp::add, "add", a, s, true); }
Tensor sub(const Tensor& a, double s) { return binary_scalar(BinaryOp::sub, "sub", a, s, false); }
Tensor sub(double s, const Tensor& a) { return binary_scalar(BinaryOp::sub, "sub", a, s, true); }
Tensor mul(const Tensor& a, double s) { return binary_scalar(BinaryOp::mul, "mul", a, s, false); }
Tensor mul(double s, const Tensor& a) { return binary_scalar(BinaryOp::mul, "mul", a, s, true); }
Tensor div(const Tensor& a, double s) { return binary_scalar(BinaryOp::div, "div", a, s, false); }
Tensor div(double s, const Tensor& a) { return binary_scalar(BinaryOp::div, "div", a, s, true); }
Tensor pow(const Tensor& a, double s) { return binary_scalar(BinaryOp::pow, "pow", a, s, false); }
Tensor pow(double s, const Tensor& a) { return binary_scalar(BinaryOp::pow, "pow", a, s, true); }
Tensor maximum(const Tensor& a, double s) { return binary_scalar(BinaryOp::maximum, "maximum", a, s, false); }
Tensor minimum(const Tensor& a, double s) { return binary_scalar(BinaryOp::minimum, "minimum", a, s, false); }

// ---------------------------------------------------------------- unary
Tensor neg(const Tensor& x) { return unary(UnaryOp::neg, "neg", x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, "exp", x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::log, "log", x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, "sqrt", x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::rsqrt, "rsqrt", x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, "abs", x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, "relu", x); }
Tensor leaky_relu(const Tensor& x, double slope) { return unary(UnaryOp::leaky_relu, "leaky_relu", x, UnaryParams{slope, 0}); }
Tensor gelu(const Tensor& x, bool approximate_tanh) {
  return unary(approximate_tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu, "gelu", x);
}
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::sigmoid, "sigmoid", x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::tanh, "tanh", x); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  LESEG_CHECK(!(lo > hi), "clamp: lo ", lo, " > hi ", hi);
  return unary(UnaryOp::clamp, "clamp", x, UnaryParams{lo, hi});
}
Tensor square(const Tensor& x) { return unary(UnaryOp::square, "square", x); }
Tensor reciprocal(const Tensor& x) { return unary(UnaryOp::reciprocal, "reciprocal", x); }

// ---------------------------------------------------------------- selection / masks
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  // f16/bf16 input: arithmetic in f32, one rounding at the store (engine/precision.h)
  if (a.defined() && b.defined() && (is_half_dtype(a.dtype()) || is_half_dtype(b.dtype())) &&
      autocast_eligible(a.dtype()) && autocast_eligible(b.dtype()))
    return store_as(where(cond, upcast(a), upcast(b)), a.dtype() == b.dtype() ? a.dtype() : DType::f32);
  check_mask("where", cond);
  check_pair("where", a, b);
  check_float("where", a, "first value input");
  LESEG_CHECK(cond.device() == a.device(), "where: condition on ", cond.device().str(), ", values on ", a.device().str());
  const Shape os = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  const Device dev = a.device();
  Tensor out = Tensor::empty(os, a.dtype(), dev);
  const BroadcastIndex bi = make_index(os, {&cond.shape(), &a.shape(), &b.shape()});
  const int64_t n = out.numel();
  const uint8_t* pc = mask_ptr(cond);
  LESEG_DISPATCH_FLOAT(a.dtype(), "where", {
    LESEG_DISPATCH_DEVICE(dev, "where",
                          kernels::where_forward_cpu<scalar_t>(pc, a.data<scalar_t>(), scalar_t(0), b.data<scalar_t>(), out.data<scalar_t>(), n, bi),
                          kernels::where_forward_cuda<scalar_t>(pc, a.data<scalar_t>(), scalar_t(0), b.data<scalar_t>(), out.data<scalar_t>(), n,
                                                                bi, current_stream(dev)));
  });
  if (!any_needs_grad({a, b})) return out;
  const bool need_a = needs_grad(a), need_b = needs_grad(b);
  const Shape as = a.shape(), bs = b.shape();
  SavedTensor sc(cond);
  return record("where", {a, b}, out, [=](const std::vector<Tensor>& g) {
    const Tensor& C = sc.get("where");
    const Tensor& go = g[0];
    Tensor ga = need_a ? Tensor::empty(os, go.dtype(), dev) : Tensor();
    Tensor gb = need_b ? Tensor::empty(os, go.dtype(), dev) : Tensor();
    LESEG_DISPATCH_FLOAT(go.dtype(), "where", {
      scalar_t* pa = need_a ? ga.data<scalar_t>() : nullptr;
      scalar_t* pb = need_b ? gb.data<scalar_t>() : nullptr;
      LESEG_DISPATCH_DEVICE(dev, "where", kernels::where_backward_cpu<scalar_t>(mask_ptr(C), go.data<scalar_t>(), pa, pb, n, bi),
                            kernels::where_backward_cuda<scalar_t>(mask_ptr(C), go.data<scalar_t>(), pa, pb, n, bi, current_stream(dev)));
    });
    return std::vector<Tensor>{need_a ? sum_to(ga, as) : Tensor(), need_b ? sum_to(gb, bs) : Tensor()};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  // f16/bf16 input: arithmetic in f32, one rounding at the store (engine/precision.h)
  if (x.defined() && is_half_dtype(x.dtype())) return store_as(masked_fill(upcast(x), mask, value), x.dtype());
  check_mask("masked_fill", mask);
  check_float("masked_fill", x, "input");
  LESEG_CHECK(mask.device() == x.device(), "masked_fill: mask on ", mask.device().str(), ", input on ", x.device().str());
  LESEG_CHECK(broadcast_shapes(mask.shape(), x.shape()) == x.shape(), "masked_fill: mask ", mask.shape().str(),
              " does not broadcast to the input shape ", x.shape().str());
  const Shape xs = x.shape();
  const Device dev = x.device();
  Tensor out = Tensor::empty(xs, x.dtype(), dev);
  const Shape none;  // the fill value is a scalar: operand 1 unused
  const BroadcastIndex bi = make_index(xs, {&mask.shape(), &none, &xs});
  const int64_t n = out.numel();
  const uint8_t* pc = mask_ptr(mask);
  LESEG_DISPATCH_FLOAT(x.dtype(), "masked_fill", {
    LESEG_DISPATCH_DEVICE(dev, "masked_fill",
                          kernels::where_forward_cpu<scalar_t>(pc, nullptr, scalar_t(value), x.data<scalar_t>(), out.data<scalar_t>(), n, bi),
                          kernels::where_forward_cuda<scalar_t>(pc, nullptr, scalar_t(value), x.data<scalar_t>(), out.data<scalar_t>(), n, bi,
                                                                current_stream(dev)));
  });
  if (!any_needs_grad({x})) return out;
  SavedTensor sm(mask);
  return record("masked_fill", {x}, out, [=](const std::vector<Tensor>& g) {
    const Tensor& M = sm.get("masked_fill");
    const Tensor& go = g[0];
    Tensor gx = Tensor::empty(xs, go.dtype(), dev);
    LESEG_DISPATCH_FLOAT(go.dtype(), "masked_fill", {
      LESEG_DISPATCH_DEVICE(dev, "masked_fill",
                            kernels::where_backward_cpu<scalar_t>(mask_ptr(M), go.data<scalar_t>(), nullptr, gx.data<scalar_t>(), n, bi),
                            kernels::where_backward_cuda<scalar_t>(mask_ptr(M), go.data<scalar_t>(), nullptr, gx.data<scalar_t>(), n, bi,
                                                                   current_stream(dev)));
    });
    return std::vector<Tensor>{gx};
  });
}

// ---------------------------------------------------------------- comparisons
Tensor eq(const Tensor& a, const Tensor& b) { return compare(CompareOp::eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(CompareOp::ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(CompareOp::lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(CompareOp::le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(CompareOp::gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(CompareOp::ge, "ge", a, b); }
Tensor eq(const Tensor& a, double s) { return compare_scalar(CompareOp::eq, "eq", a, s); }
Tensor ne(const Tensor& a, double s) { return compare_scalar(CompareOp::ne, "ne", a, s); }
Tensor lt(const Tensor& a, double s) { return compare_scalar(CompareOp::lt, "lt", a, s); }
Tensor le(const Tensor& a, double s) { return compare_scalar(CompareOp::le, "le", a, s); }
Tensor gt(const Tensor& a, double s) { return compare_scalar(CompareOp::gt, "gt", a, s); }
Tensor ge(const Tensor& a, double s) { return compare_scalar(CompareOp::ge, "ge", a, s); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  check_mask("logical_and", a);
  check_mask("logical_and", b);
  return compare(CompareOp::logical_and, "logical_and", a, b.dtype() == a.dtype() ? b : b.to(a.dtype()));
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  check_mask("logical_or", a);
  check_mask("logical_or", b);
  return compare(CompareOp::logical_or, "logical_or", a, b.dtype() == a.dtype() ? b : b.to(a.dtype()));
}
Tensor logical_not(const Tensor& a) {
  check_mask("logical_not", a);
  const Device dev = a.device();
  Tensor out = Tensor::empty(a.shape(), DType::u8, dev);
  LESEG_DISPATCH_DEVICE(dev, "logical_not", kernels::logical_not_cpu(mask_ptr(a), out.data<uint8_t>(), a.numel()),
                        kernels::logical_not_cuda(mask_ptr(a), out.data<uint8_t>(), a.numel(), current_stream(dev)));
  return out;
}

// ---------------------------------------------------------------- one_hot
Tensor one_hot(const Tensor& index, int64_t C) {
  LESEG_CHECK(index.defined(), "one_hot: undefined index");
  LESEG_CHECK(C > 0, "one_hot: number of classes must be positive, got ", C);
  Shape os = index.shape();
  os.push_back(C);
  const Device dev = index.device();
  Tensor out = Tensor::empty(os, DType::f32, dev);
  const int64_t n = index.numel();
  LESEG_DISPATCH_INDEX(index.dtype(), "one_hot", {
    const scalar_t* pi = index.data<scalar_t>();
    LESEG_DISPATCH_DEVICE(dev, "one_hot",
                          {
                            int64_t bad = kernels::one_hot_cpu<scalar_t>(pi, out.data<float>(), n, C);
                            LESEG_CHECK(bad < 0, "one_hot: index ", int64_t(pi[bad < 0 ? 0 : bad]), " at position ", bad,
                                        " is outside [0, ", C, ")");
                          },
                          {
                            // No host read: an index outside [0, C) is recorded in the device's error slot (op,
                            // position, value), read once per step by check_device_errors; its row stays zero.
                            kernels::index_check_cuda<scalar_t>(pi, n, C, int32_t(kernels::DeviceErrorCode::OneHot),
                                                                current_stream(dev));
                            Tensor flag = Tensor::zeros(Shape{2}, DType::i64, dev);  // the kernel's own, unread
                            kernels::one_hot_cuda<scalar_t>(pi, out.data<float>(), n, C, flag.data<int64_t>(),
                                                            current_stream(dev));
                          });
  });
  return out;
}

}  // namespace leseg
