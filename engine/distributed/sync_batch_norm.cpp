// SPDX-License-Identifier: Apache-2.0
#include "engine/distributed/sync_batch_norm.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"

namespace leseg::dist {

Tensor sync_batch_norm(Communicator& comm, const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                       const Tensor& weight, const Tensor& bias, double momentum, double eps) {
  LESEG_CHECK(x.defined() && x.ndim() == 2 && (x.dtype() == DType::f32 || x.dtype() == DType::f64),
              "sync_batch_norm: x must be (N, C) f32/f64, got ", x.defined() ? x.shape().str() : "undefined");
  const int64_t C = x.size(1);
  for (const Tensor* p : {&weight, &bias, &running_mean, &running_var})
    LESEG_CHECK(!p->defined() || (p->ndim() == 1 && p->size(0) == C), "sync_batch_norm: parameters must be (", C, ")");
  const DType dt = x.dtype();
  const Device dev = x.device();
  Tensor xhat, invstd, mean_t;
  double n_tot = 0;
  {
    NoGradGuard ng;
    Tensor xd = x.detach();
    Tensor s1 = concat({sum(xd, 0).to(DType::f64), Tensor::full(Shape{1}, double(x.size(0)), DType::f64, dev)}, 0);
    comm.all_reduce(s1);
    n_tot = s1.narrow(C, 1).to(Device::cpu()).item_double();
    LESEG_CHECK(n_tot > 1, "sync_batch_norm: training needs more than 1 value per channel over all ranks, got ", n_tot);
    mean_t = div(s1.narrow(0, C), n_tot);                              // f64 (C)
    Tensor d = sub(xd, mean_t.to(dt).reshape(Shape{1, C}));
    Tensor s2 = sum(mul(d, d), 0).to(DType::f64);
    comm.all_reduce(s2);
    Tensor var = div(s2, n_tot);                                       // biased, f64
    invstd = rsqrt(add(var, eps)).to(dt);
    xhat = mul(d, invstd.reshape(Shape{1, C}));
    if (running_mean.defined()) {
      Tensor rm = running_mean, rv = running_var;
      rm.copy_(add(mul(running_mean, 1.0 - momentum), mul(mean_t.to(running_mean.dtype()), momentum)));
      rv.copy_(add(mul(running_var, 1.0 - momentum),
                            mul(mul(var, n_tot / (n_tot - 1.0)).to(running_var.dtype()), momentum)));
    }
  }
  Tensor y;
  {
    NoGradGuard ng;
    y = xhat;
    if (weight.defined()) y = mul(y, weight.detach().reshape(Shape{1, C}));
    if (bias.defined()) y = add(y, bias.detach().reshape(Shape{1, C}));
    if (!weight.defined() && !bias.defined()) y = xhat.clone();
  }
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  Communicator* cp = &comm;
  Tensor w = weight.defined() ? weight.detach() : Tensor();
  const bool has_w = weight.defined(), has_b = bias.defined();
  return record("sync_batch_norm", inputs, y, [cp, xhat, invstd, w, n_tot, C, dt, has_w, has_b](const std::vector<Tensor>& g) {
    NoGradGuard ng;
    const Tensor& gy = g[0];
    Tensor sg = sum(gy, 0), sgx = sum(mul(gy, xhat), 0);
    Tensor both = concat({sg, sgx}, 0).to(DType::f64);
    cp->all_reduce(both);
    Tensor G = div(both.narrow(0, C), n_tot).to(dt).reshape(Shape{1, C});
    Tensor GX = div(both.narrow(C, C), n_tot).to(dt).reshape(Shape{1, C});
    Tensor scale = has_w ? mul(invstd, w) : invstd;
    Tensor dx = mul(sub(sub(gy, G), mul(xhat, GX)), scale.reshape(Shape{1, C}));
    std::vector<Tensor> out{dx};
    if (has_w) out.push_back(sgx);
    if (has_b) out.push_back(sg);
    return out;
  });
}

}  // namespace leseg::dist
