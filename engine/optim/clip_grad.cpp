// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/clip_grad.h"

#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "kernels/optim/optim.h"

namespace leseg {

namespace {
kernels::NormKind kind_of(double norm_type) {
  if (norm_type == 1.0) return kernels::NormKind::L1;
  if (norm_type == 2.0) return kernels::NormKind::L2;
  if (std::isinf(norm_type) && norm_type > 0) return kernels::NormKind::Linf;
  LESEG_FAIL("clip_grad_norm_: norm_type ", norm_type, " not supported (1, 2 or infinity)");
}
}  // namespace

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  kernels::NormKind k = kind_of(norm_type);
  double acc = 0.0;
  for (const Tensor& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    int64_t n = g.numel();
    int64_t np = kernels::norm_partials_count(n);
    Device d = g.device();
    std::vector<double> part(size_t(np), 0.0);
    LESEG_DISPATCH_FLOAT(g.dtype(), "clip_grad_norm_", {
      if (d.is_cpu()) {
        kernels::norm_partials_cpu<scalar_t>(g.data<scalar_t>(), n, k, part.data());
      } else {
        Tensor ws = Tensor::empty(Shape{np}, DType::f64, d);
        LESEG_DISPATCH_DEVICE(d, "clip_grad_norm_", (void)0,
                              kernels::norm_partials_cuda<scalar_t>(g.data<scalar_t>(), n, k, ws.data<double>(),
                                                                    current_stream(d)));
        part = ws.to_vector<double>();
      }
    });
    for (double v : part) acc = kernels::norm_combine(acc, v, k);
  }
  if (k == kernels::NormKind::L2) return std::sqrt(acc);
  return acc;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  LESEG_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm ", max_norm, " < 0");
  double total = grad_norm(params, norm_type);
  double coef = max_norm / (total + 1e-6);
  if (coef >= 1.0 || !std::isfinite(total)) return total;
  NoGradGuard ng;
  for (const Tensor& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    Device d = g.device();
    int64_t n = g.numel();
    LESEG_DISPATCH_FLOAT(g.dtype(), "clip_grad_norm_", {
      LESEG_DISPATCH_DEVICE(d, "clip_grad_norm_", kernels::scale_cpu<scalar_t>(g.data<scalar_t>(), n, scalar_t(coef)),
                            kernels::scale_cuda<scalar_t>(g.data<scalar_t>(), n, scalar_t(coef), current_stream(d)));
    });
    g.bump_version();
  }
  return total;
}

}  // namespace leseg
