// SPDX-License-Identifier: Apache-2.0
// Harness cases for the reductions (engine/ops/reduce.h): all elements, each dim, negative dims,
// keepdim, sizes 1 / 7 / 13, empty reduced dims (sum / mean), 5-D.
#include "engine/ops/reduce.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {

using V = std::vector<Tensor>;

OpCase mk(const char* op, std::string name, Shape s, Gen g, std::function<V(const Tensor&)> f, bool allow_zero = false) {
  OpCase c;
  c.op = op;
  c.name = std::move(name);
  c.inputs = {InputSpec{s, g}};
  c.fn = [f](const V& x) { return f(x[0]); };
  c.allow_zero = allow_zero;
  return c;
}

std::vector<OpCase> make_cases() {
  std::vector<OpCase> cs;
  const std::vector<Shape> shapes = {Shape{13}, Shape{1, 7}, Shape{2, 7, 3}, Shape{2, 1, 3, 2, 2}};
  for (const char* op : {"sum", "mean", "var"}) {
    const std::string o = op;
    auto dimf = [o](int d, bool k) -> std::function<V(const Tensor&)> {
      if (o == "sum") return [d, k](const Tensor& x) { return V{sum(x, d, k)}; };
      if (o == "mean") return [d, k](const Tensor& x) { return V{mean(x, d, k)}; };
      return [d, k](const Tensor& x) { return V{var(x, d, true, k)}; };
    };
    for (const Shape& s : shapes) {
      std::string sn = s.str();
      for (int d = 0; d < s.ndim(); ++d) {
        if (o == "var" && s[d] < 2) continue;  // unbiased var of one element is 0/0
        cs.push_back(mk(op, "dim" + std::to_string(d) + "_" + sn, s, Gen::Normal, dimf(d, false)));
      }
      cs.push_back(mk(op, "lastdim_keepdim_" + sn, s, Gen::Normal, dimf(-1, true)));
    }
  }
  cs.push_back(mk("sum", "all_3x5", {3, 5}, Gen::Normal, [](const Tensor& x) { return V{sum(x)}; }));
  cs.push_back(mk("sum", "all_5d", {2, 1, 3, 2, 2}, Gen::Normal, [](const Tensor& x) { return V{sum(x)}; }));
  cs.push_back(mk("sum", "empty_dim0_0x3", {0, 3}, Gen::Normal, [](const Tensor& x) { return V{sum(x, 0)}; }, true));
  cs.push_back(mk("sum", "empty_all", {0, 3}, Gen::Normal, [](const Tensor& x) { return V{sum(x)}; }, true));
  cs.push_back(mk("sum", "output_empty_3x0", {3, 0}, Gen::Normal, [](const Tensor& x) { return V{sum(x, 0)}; }, true));
  cs.push_back(mk("mean", "all_13", {13}, Gen::Normal, [](const Tensor& x) { return V{mean(x)}; }));
  cs.push_back(mk("mean", "all_2x7x3", {2, 7, 3}, Gen::Normal, [](const Tensor& x) { return V{mean(x)}; }));
  cs.push_back(mk("var", "all_unbiased_2x7", {2, 7}, Gen::Normal, [](const Tensor& x) { return V{var(x)}; }));
  cs.push_back(mk("var", "all_biased_13", {13}, Gen::Normal, [](const Tensor& x) { return V{var(x, false)}; }));
  cs.push_back(mk("var", "dim1_biased_keepdim_3x7", {3, 7}, Gen::Normal, [](const Tensor& x) { return V{var(x, 1, false, true)}; }));
  cs.push_back(mk("var", "dim0_biased_1x5", {1, 5}, Gen::Normal, [](const Tensor& x) { return V{var(x, 0, false)}; }, true));

  for (const char* op : {"max", "min"}) {
    const bool is_max = std::string(op) == "max";
    for (const Shape& s : shapes) {
      for (int d = 0; d < s.ndim(); ++d) {
        cs.push_back(mk(op, "dim" + std::to_string(d) + "_" + s.str(), s, Gen::Distinct, [d, is_max](const Tensor& x) {
          ValuesIndices r = is_max ? max(x, d) : min(x, d);
          return V{r.values, r.indices};
        }));
      }
      cs.push_back(mk(op, "lastdim_keepdim_" + s.str(), s, Gen::Distinct, [is_max](const Tensor& x) {
        ValuesIndices r = is_max ? max(x, -1, true) : min(x, -1, true);
        return V{r.values, r.indices};
      }));
    }
    cs.push_back(mk(op, "all_3x5", {3, 5}, Gen::Distinct, [is_max](const Tensor& x) { return V{is_max ? max(x) : min(x)}; }));
    cs.push_back(mk(op, "argmax_dim1_4x13", {4, 13}, Gen::Distinct, [is_max](const Tensor& x) {
      return V{is_max ? max(x, 1).values : min(x, 1).values, is_max ? argmax(x, 1) : argmin(x, 1)};
    }));
  }
  return cs;
}

}  // namespace

static const int r = register_cases(make_cases());

}  // namespace leseg::testing
