// SPDX-License-Identifier: Apache-2.0
// Harness cases for the elementwise family (engine/ops/elementwise.h) and `cast` (Tensor::to(DType)):
// equal shapes, row / column / scalar-shaped / 5-D broadcasting, empty tensors, scalar operands.
// Inputs stay small (finite differences cost two forwards per input element).
#include "engine/ops/elementwise.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {

using V = std::vector<Tensor>;

InputSpec in(Shape s, Gen g = Gen::Normal) { return InputSpec{s, g}; }
InputSpec mask(Shape s) { return InputSpec{s, Gen::Mask, false}; }

OpCase binary_case(const char* op, const char* name, InputSpec a, InputSpec b, Tensor (*f)(const Tensor&, const Tensor&),
                   bool allow_zero = false) {
  OpCase c;
  c.op = op;
  c.name = name;
  c.inputs = {a, b};
  c.fn = [f](const V& x) { return V{f(x[0], x[1])}; };
  c.allow_zero = allow_zero;
  return c;
}
OpCase unary_case(const char* op, const char* name, InputSpec a, std::function<Tensor(const Tensor&)> f,
                  bool allow_zero = false) {
  OpCase c;
  c.op = op;
  c.name = name;
  c.inputs = {a};
  c.fn = [f](const V& x) { return V{f(x[0])}; };
  c.allow_zero = allow_zero;
  return c;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cs;
  auto add_binary = [&](const char* op, Tensor (*f)(const Tensor&, const Tensor&), Gen ga, Gen gb) {
    cs.push_back(binary_case(op, "same_3x5", in({3, 5}, ga), in({3, 5}, gb), f));
    cs.push_back(binary_case(op, "bcast_row_4x7_7", in({4, 7}, ga), in({7}, gb), f));
    cs.push_back(binary_case(op, "bcast_col_5x1_1x13", in({5, 1}, ga), in({1, 13}, gb), f));
    cs.push_back(binary_case(op, "bcast_scalar_shaped", in({2, 3}, ga), in({}, gb), f));
    cs.push_back(binary_case(op, "bcast_5d", in({2, 1, 3, 1, 2}, ga), in({1, 3, 2, 2}, gb), f));
    cs.push_back(binary_case(op, "empty_0x3_3", in({0, 3}, ga), in({3}, gb), f, true));
  };
  add_binary("add", [](const Tensor& a, const Tensor& b) { return a + b; }, Gen::Normal, Gen::Normal);
  add_binary("sub", [](const Tensor& a, const Tensor& b) { return a - b; }, Gen::Normal, Gen::Normal);
  add_binary("mul", [](const Tensor& a, const Tensor& b) { return a * b; }, Gen::Normal, Gen::Normal);
  add_binary("div", [](const Tensor& a, const Tensor& b) { return a / b; }, Gen::Normal, Gen::Positive);
  add_binary("pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, Gen::Positive, Gen::Normal);
  // AwayFromZero vs Normal: continuous draws, so no ties (the tie rule is tested in the kernel tests).
  add_binary("maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, Gen::AwayFromZero, Gen::Normal);
  add_binary("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, Gen::AwayFromZero, Gen::Normal);

  // scalar operands (both orders) and unary minus
  cs.push_back(unary_case("add", "scalar_right_7", in({7}), [](const Tensor& x) { return x + 2.5; }));
  cs.push_back(unary_case("add", "scalar_left_2x3", in({2, 3}), [](const Tensor& x) { return -1.5 + x; }));
  cs.push_back(unary_case("sub", "scalar_left_13", in({13}), [](const Tensor& x) { return 3.0 - x; }));
  cs.push_back(unary_case("sub", "scalar_right_13", in({13}), [](const Tensor& x) { return x - 0.25; }));
  cs.push_back(unary_case("mul", "scalar_1", in({1}), [](const Tensor& x) { return 0.5 * x; }));
  cs.push_back(unary_case("mul", "scalar_right_3x7", in({3, 7}), [](const Tensor& x) { return x * -3.0; }));
  cs.push_back(unary_case("div", "scalar_denominator_7", in({7}), [](const Tensor& x) { return x / 4.0; }));
  cs.push_back(unary_case("div", "scalar_numerator_7", in({7}, Gen::Positive), [](const Tensor& x) { return 2.0 / x; }));
  cs.push_back(unary_case("pow", "scalar_exponent_2_13", in({13}), [](const Tensor& x) { return pow(x, 2.0); }));
  cs.push_back(unary_case("pow", "scalar_exponent_frac_7", in({7}, Gen::Positive), [](const Tensor& x) { return pow(x, -1.5); }));
  cs.push_back(unary_case("pow", "scalar_base_7", in({7}), [](const Tensor& x) { return pow(2.0, x); }));
  cs.push_back(unary_case("maximum", "scalar_0_13", in({13}, Gen::AwayFromZero), [](const Tensor& x) { return maximum(x, 0.0); }));
  cs.push_back(unary_case("minimum", "scalar_0_13", in({13}, Gen::AwayFromZero), [](const Tensor& x) { return minimum(x, 0.1); }));
  cs.push_back(unary_case("neg", "operator_minus_3x5", in({3, 5}), [](const Tensor& x) { return -x; }));

  // unary: dims 1 / 7 / 13, a 3-D and an empty case per op
  struct U {
    const char* op;
    Gen g;
    std::function<Tensor(const Tensor&)> f;
    Gen g1 = Gen::Normal;  // generator of the single-element case (kept off kinks and flat regions)
  };
  const std::vector<U> unaries = {
      {"neg", Gen::Normal, [](const Tensor& x) { return neg(x); }},
      {"exp", Gen::Unit, [](const Tensor& x) { return exp(x); }},
      {"log", Gen::Positive, [](const Tensor& x) { return log(x); }},
      {"sqrt", Gen::Positive, [](const Tensor& x) { return sqrt(x); }},
      {"rsqrt", Gen::Positive, [](const Tensor& x) { return rsqrt(x); }},
      {"abs", Gen::AwayFromZero, [](const Tensor& x) { return abs(x); }, Gen::Positive},
      {"relu", Gen::AwayFromZero, [](const Tensor& x) { return relu(x); }, Gen::Positive},
      {"leaky_relu", Gen::AwayFromZero, [](const Tensor& x) { return leaky_relu(x, 0.2); }, Gen::Positive},
      {"gelu", Gen::Normal, [](const Tensor& x) { return gelu(x); }},
      {"sigmoid", Gen::Normal, [](const Tensor& x) { return sigmoid(x); }},
      {"tanh", Gen::Normal, [](const Tensor& x) { return tanh(x); }},
      {"clamp", Gen::AwayFromZero, [](const Tensor& x) { return clamp(x, -1.0, 1.1); }, Gen::Unit},
  };
  for (const auto& u : unaries) {
    cs.push_back(unary_case(u.op, "n1", in({1}, u.g1 == Gen::Normal ? u.g : u.g1), u.f));
    cs.push_back(unary_case(u.op, "n13", in({13}, u.g), u.f));
    cs.push_back(unary_case(u.op, "2x7x3", in({2, 7, 3}, u.g), u.f));
    cs.push_back(unary_case(u.op, "empty", in({0, 7}, u.g), u.f, true));
  }
  cs.push_back(unary_case("gelu", "tanh_approx_2x13", in({2, 13}), [](const Tensor& x) { return gelu(x, true); }));
  cs.push_back(unary_case("leaky_relu", "default_slope_13", in({13}, Gen::AwayFromZero), [](const Tensor& x) { return leaky_relu(x); }));
  cs.push_back(unary_case("clamp", "min_only_13", in({13}, Gen::AwayFromZero), [](const Tensor& x) { return clamp_min(x, 0.0); }));
  cs.push_back(unary_case("clamp", "max_only_13", in({13}, Gen::AwayFromZero), [](const Tensor& x) { return clamp_max(x, 0.5); }));
  cs.push_back(unary_case("sigmoid", "large_magnitude", in({13}), [](const Tensor& x) { return sigmoid(mul(x, 30.0)); }));

  // where / masked_fill
  {
    OpCase c;
    c.op = "where";
    c.name = "same_3x5";
    c.inputs = {mask({3, 5}), in({3, 5}), in({3, 5})};
    c.fn = [](const V& x) { return V{where(x[0], x[1], x[2])}; };
    cs.push_back(c);
    c.name = "bcast_cond7_a4x1_b7";
    c.inputs = {mask({7}), in({4, 1}), in({7})};
    cs.push_back(c);
    c.name = "bcast_5d";
    c.inputs = {mask({2, 1, 3, 1, 1}), in({1, 3, 1, 2}), in({2, 1, 1, 1, 2})};
    cs.push_back(c);
    c.name = "empty";
    c.inputs = {mask({0, 3}), in({0, 3}), in({3})};
    c.allow_zero = true;
    cs.push_back(c);
  }
  {
    OpCase c;
    c.op = "masked_fill";
    c.name = "same_3x5";
    c.inputs = {in({3, 5}), mask({3, 5})};
    c.fn = [](const V& x) { return V{masked_fill(x[0], x[1], 0.5)}; };
    cs.push_back(c);
    c.name = "bcast_mask_row_4x13";
    c.inputs = {in({4, 13}), mask({13})};
    c.fn = [](const V& x) { return V{masked_fill(x[0], x[1], -30.0)}; };
    cs.push_back(c);
    c.name = "bcast_mask_col_7x1";
    c.inputs = {in({7, 3}), mask({7, 1})};
    cs.push_back(c);
  }
  {
    OpCase c;
    c.op = "cast";
    c.name = "roundtrip_via_f32_2x7";
    c.inputs = {in({2, 7})};
    c.fn = [](const V& x) { return V{x[0].to(DType::f32).to(x[0].dtype())}; };
    c.grad_atol = 5e-2;
    c.grad_rtol = 0;
    c.why = "f64 -> f32 -> f64: the finite difference (eps 1e-6) only resolves ~17 f32 ulps of the output";
    cs.push_back(c);
    c.name = "exact_f64_to_f64_via_mul";
    c.inputs = {in({13})};
    c.fn = [](const V& x) { return V{mul(x[0].to(DType::f32).to(x[0].dtype()), 1.0)}; };
    cs.push_back(c);
  }
  return cs;
}

}  // namespace

static const int r = register_cases(make_cases());

}  // namespace leseg::testing
