// SPDX-License-Identifier: Apache-2.0
#include "engine/ops/autocast.h"

#include "kernels/common/lowp_round.h"

namespace leseg {

Tensor autocast_in(const Tensor& x) {
  if (!x.defined() || !autocast_enabled() || !autocast_eligible(x.dtype())) return x;
  const DType dt = autocast_dtype();
  return x.dtype() == dt ? x : x.to(dt);
}

Tensor upcast(const Tensor& x) { return x.defined() && is_half_dtype(x.dtype()) ? x.to(DType::f32) : x; }

Tensor store_as(const Tensor& y, DType dt) {
  if (!y.defined() || !is_half_dtype(dt) || y.dtype() == dt) return y;
  LESEG_CHECK(y.dtype() == DType::f32, "store_as: expects an f32 result to store as ", dtype_name(dt), ", got ",
              dtype_name(y.dtype()));
  return y.to(dt);
}

Tensor autocast_emulate(const Tensor& x) {
  if (!x.defined() || !autocast_enabled() || x.dtype() != DType::f32) return x;
  return x.to(autocast_dtype()).to(DType::f32);
}

Tensor round_tf32_copy(const Tensor& x) {
  LESEG_CHECK(x.defined() && x.dtype() == DType::f32 && x.device().is_cpu(),
              "round_tf32_copy: expects an f32 CPU tensor, got ", x.defined() ? x.str() : std::string("undefined"));
  Tensor c = x.detach().clone();
  float* p = c.data<float>();
  for (int64_t i = 0, n = c.numel(); i < n; ++i) p[i] = round_to_tf32(p[i]);
  return c;
}

}  // namespace leseg
