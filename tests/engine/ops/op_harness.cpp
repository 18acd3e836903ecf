// SPDX-License-Identifier: Apache-2.0
#include "tests/engine/ops/op_harness.h"

#include "engine/rng.h"

namespace leseg::testing {

namespace {
std::vector<OpCase>& registry() {
  static std::vector<OpCase> r;
  return r;
}
}  // namespace

int register_cases(std::vector<OpCase> cases) {
  for (auto& c : cases) registry().push_back(std::move(c));
  return int(registry().size());
}
const std::vector<OpCase>& op_cases() { return registry(); }

Tensor make_input(const InputSpec& spec, DType fdt, uint64_t seed) {
  Generator g(seed);
  const int64_t n = spec.shape.numel();
  switch (spec.gen) {
    case Gen::Normal: return randn(spec.shape, g, DType::f64).to(fdt);
    case Gen::Positive: return uniform(spec.shape, 0.5, 2.0, g, DType::f64).to(fdt);
    case Gen::Unit: return uniform(spec.shape, -0.9, 0.9, g, DType::f64).to(fdt);
    case Gen::AwayFromZero: {
      Tensor u = uniform(spec.shape, 0.3, 1.5, g, DType::f64);
      Tensor s = rand(spec.shape, g, DType::f64);
      double* pu = u.data<double>();
      const double* ps = s.data<double>();
      for (int64_t i = 0; i < n; ++i) pu[i] = ps[i] < 0.5 ? -pu[i] : pu[i];
      return u.to(fdt);
    }
    case Gen::Distinct: {
      Tensor p = randperm(n, g);
      Tensor out = Tensor::empty(spec.shape, DType::f64);
      for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = 0.1 * double(p.data<int64_t>()[i]) - 0.05 * double(n);
      return out.to(fdt);
    }
    case Gen::Index: {
      LESEG_CHECK(spec.hi > 0 || n == 0, "Index input needs hi > 0");
      Tensor u = rand(spec.shape, g, DType::f64);
      Tensor out = Tensor::empty(spec.shape, DType::i64);
      for (int64_t i = 0; i < n; ++i)
        out.data<int64_t>()[i] = std::min<int64_t>(spec.hi - 1, int64_t(u.data<double>()[i] * double(spec.hi)));
      return out.to(spec.index_dtype);
    }
    case Gen::Mask: return bernoulli_mask(spec.shape, 0.5, g);
  }
  return {};
}

}  // namespace leseg::testing
