// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/clip_grad.h"

#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "kernels/clip_grad/clip_grad.h"
#include "kernels/optim/optim.h"

namespace leseg {

namespace {
kernels::NormKind kind_of(double norm_type) {
  if (norm_type == 1.0) return kernels::NormKind::L1;
  if (norm_type == 2.0) return kernels::NormKind::L2;
  if (std::isinf(norm_type) && norm_type > 0) return kernels::NormKind::Linf;
  LESEG_FAIL("clip_grad_norm_: norm_type ", norm_type, " not supported (1, 2 or infinity)");
}

std::vector<Tensor> grads_of(const std::vector<Tensor>& params, Device* dev) {
  std::vector<Tensor> gs;
  for (const Tensor& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    if (gs.empty()) *dev = g.device();
    LESEG_CHECK(g.device() == *dev, "clip_grad_norm_: gradients on ", dev->str(), " and ", g.device().str(),
                " (one device per call)");
    gs.push_back(g);
  }
  return gs;
}

// [total norm, coefficient] (f64, on the gradients' device) from the partials of every gradient written back to back
// into one workspace: one finish launch, no host read.
Tensor norm_and_coef(const std::vector<Tensor>& gs, Device d, kernels::NormKind k, double max_norm) {
  int64_t np = 0;
  for (const Tensor& g : gs) np += kernels::norm_partials_count(g.numel());
  Tensor part = Tensor::empty(Shape{std::max<int64_t>(np, 1)}, DType::f64, d);
  Tensor out = Tensor::empty(Shape{2}, DType::f64, d);
  int64_t off = 0;
  for (const Tensor& g : gs) {
    const int64_t n = g.numel();
    double* dst = part.data<double>() + off;
    LESEG_DISPATCH_FLOAT(g.dtype(), "clip_grad_norm_", {
      LESEG_DISPATCH_DEVICE(d, "clip_grad_norm_", kernels::norm_partials_cpu<scalar_t>(g.data<scalar_t>(), n, k, dst),
                            kernels::norm_partials_cuda<scalar_t>(g.data<scalar_t>(), n, k, dst, current_stream(d)));
    });
    off += kernels::norm_partials_count(n);
  }
  LESEG_DISPATCH_DEVICE(d, "clip_grad_norm_",
                        kernels::clip_finish_cpu(part.data<double>(), np, k, max_norm, out.data<double>()),
                        kernels::clip_finish_cuda(part.data<double>(), np, k, max_norm, out.data<double>(),
                                                  current_stream(d)));
  return out;
}
}  // namespace

Tensor grad_norm_device(const std::vector<Tensor>& params, double norm_type) {
  kernels::NormKind k = kind_of(norm_type);
  Device d = Device::cpu();
  std::vector<Tensor> gs = grads_of(params, &d);
  return norm_and_coef(gs, d, k, std::numeric_limits<double>::infinity()).narrow(0, 1).reshape(Shape{});
}

double grad_norm(const std::vector<Tensor>& params, double norm_type) {
  return grad_norm_device(params, norm_type).item<double>();
}

Tensor clip_grad_norm_device_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  LESEG_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm ", max_norm, " < 0");
  kernels::NormKind k = kind_of(norm_type);
  Device d = Device::cpu();
  std::vector<Tensor> gs = grads_of(params, &d);
  Tensor nc = norm_and_coef(gs, d, k, max_norm);
  NoGradGuard ng;
  for (const Tensor& g : gs) {
    const int64_t n = g.numel();
    LESEG_DISPATCH_FLOAT(g.dtype(), "clip_grad_norm_", {
      LESEG_DISPATCH_DEVICE(d, "clip_grad_norm_", kernels::scale_by_cpu<scalar_t>(g.data<scalar_t>(), n, nc.data<double>()),
                            kernels::scale_by_cuda<scalar_t>(g.data<scalar_t>(), n, nc.data<double>(), current_stream(d)));
    });
    g.bump_version();
  }
  return nc.narrow(0, 1).reshape(Shape{});
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  return clip_grad_norm_device_(params, max_norm, norm_type).item<double>();
}

}  // namespace leseg
