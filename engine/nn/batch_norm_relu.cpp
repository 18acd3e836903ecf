// SPDX-License-Identifier: Apache-2.0
#include "engine/nn/batch_norm_relu.h"

#include <cstdlib>
#include <cstring>

#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "kernels/batch_norm/batch_norm.h"
#include "kernels/batch_norm/batch_norm_relu_cpu.h"

namespace leseg {

namespace {
bool fused_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("LESEG_FUSED_BN_RELU");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}
void check_param(const char* what, const Tensor& p, const Tensor& x, int64_t C) {
  if (!p.defined()) return;
  LESEG_CHECK(p.dtype() == x.dtype(), "batch_norm_relu: ", what, " dtype ", dtype_name(p.dtype()),
              " differs from input dtype ", dtype_name(x.dtype()));
  LESEG_CHECK(p.device() == x.device(), "batch_norm_relu: ", what, " on ", p.device().str(), ", input on ",
              x.device().str());
  LESEG_CHECK(p.ndim() == 1 && p.size(0) == C, "batch_norm_relu: ", what, " must have shape (", C, ",), got ",
              p.shape().str());
}
template <class T>
const T* cptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
}  // namespace

bool batch_norm_relu_fused(const Tensor& x) {
  return fused_enabled() && x.defined() && x.device().is_cpu() && (x.dtype() == DType::f32 || x.dtype() == DType::f64) &&
         x.ndim() == 2;
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum, double eps, const Tensor& residual) {
  if (!batch_norm_relu_fused(x)) {
    Tensor z = batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
    return relu(residual.defined() ? add(z, residual) : z);
  }
  const int64_t N = x.size(0), C = x.size(1);
  check_param("weight", weight, x, C);
  check_param("bias", bias, x, C);
  check_param("running_mean", running_mean, x, C);
  check_param("running_var", running_var, x, C);
  LESEG_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm_relu: running_mean and running_var must both be given or both be absent");
  if (residual.defined())
    LESEG_CHECK(residual.shape() == x.shape() && residual.dtype() == x.dtype() && residual.device() == x.device(),
                "batch_norm_relu: residual ", residual.str(), " must match the input ", x.str());
  if (training)
    LESEG_CHECK(N > 1, "batch_norm_relu: training needs more than 1 value per channel, input ", x.shape().str());
  else
    LESEG_CHECK(running_mean.defined(), "batch_norm_relu: eval mode needs running_mean / running_var");
  const Device d = x.device();
  Tensor mean, rstd = Tensor::empty(Shape{C}, x.dtype(), d);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), d);
  LESEG_DISPATCH_FLOAT(x.dtype(), "batch_norm_relu", {
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* prstd = rstd.data<scalar_t>();
    if (training) {
      mean = Tensor::empty(Shape{C}, x.dtype(), d);
      Tensor var = Tensor::empty(Shape{C}, x.dtype(), d);
      kernels::batch_norm_stats_onepass_cpu<scalar_t>(px, N, C, mean.data<scalar_t>(), var.data<scalar_t>());
      kernels::batch_norm_finalize_cpu<scalar_t>(mean.data<scalar_t>(), var.data<scalar_t>(), C, N, eps, momentum,
                                                 mptr<scalar_t>(running_mean), mptr<scalar_t>(running_var), prstd);
      if (running_mean.defined()) {
        running_mean.bump_version();
        running_var.bump_version();
      }
    } else {
      mean = running_mean.detach().clone();  // a snapshot: later in-place updates must not change backward
      kernels::batch_norm_finalize_cpu<scalar_t>(mean.data<scalar_t>(), running_var.data<scalar_t>(), C, N, eps, 0.0,
                                                 nullptr, nullptr, prstd);
    }
    kernels::batch_norm_relu_forward_cpu<scalar_t>(px, mean.data<scalar_t>(), prstd, cptr<scalar_t>(weight),
                                                   cptr<scalar_t>(bias), cptr<scalar_t>(residual),
                                                   y.data<scalar_t>(), N, C);
  });
  const bool gx = needs_grad(x), gw = needs_grad(weight), gb = needs_grad(bias), gr = needs_grad(residual);
  // The output is saved detached (no grad_fn): saving y itself would make a cycle.
  return record("batch_norm_relu", {x, weight, bias, residual}, y,
                [sx = SavedTensor(x), sw = SavedTensor(weight), sy = SavedTensor(y.detach()), mean, rstd, N, C,
                 training, gx, gw, gb, gr](const std::vector<Tensor>& g) {
                  const Tensor& X = sx.get("batch_norm_relu");
                  const Tensor& W = sw.get("batch_norm_relu");
                  const Tensor& Y = sy.get("batch_norm_relu");
                  const Device dev = X.device();
                  Tensor dx = gx ? Tensor::empty(X.shape(), X.dtype(), dev) : Tensor();
                  Tensor dw = gw ? Tensor::empty(Shape{C}, X.dtype(), dev) : Tensor();
                  Tensor db = gb ? Tensor::empty(Shape{C}, X.dtype(), dev) : Tensor();
                  Tensor dr = gr ? Tensor::empty(X.shape(), X.dtype(), dev) : Tensor();
                  const Tensor go = g[0].dtype() == X.dtype() ? g[0] : g[0].to(X.dtype());
                  LESEG_DISPATCH_FLOAT(X.dtype(), "batch_norm_relu", {
                    kernels::batch_norm_relu_backward_cpu<scalar_t>(
                        go.data<scalar_t>(), Y.data<scalar_t>(), X.data<scalar_t>(), mean.data<scalar_t>(),
                        rstd.data<scalar_t>(), cptr<scalar_t>(W), N, C, training, mptr<scalar_t>(dx),
                        mptr<scalar_t>(dw), mptr<scalar_t>(db), mptr<scalar_t>(dr));
                  });
                  return std::vector<Tensor>{dx, dw, db, dr};
                });
}

}  // namespace leseg
