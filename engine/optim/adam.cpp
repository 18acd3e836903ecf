// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/adam.h"

#include <cmath>

#include "engine/autograd.h"
#include "kernels/optim/optim.h"

namespace leseg {

void Adam::init(std::vector<ParamGroup> groups) {
  for (auto& g : groups) {
    LESEG_CHECK(g.beta1 >= 0 && g.beta1 < 1 && g.beta2 >= 0 && g.beta2 < 1, name(), ": betas (", g.beta1, ", ",
                g.beta2, ") must lie in [0, 1)");
    LESEG_CHECK(g.eps >= 0, name(), ": eps ", g.eps, " < 0");
    add_param_group(std::move(g));
  }
}

Adam::Adam(std::vector<Tensor> params, const ParamGroup& hyper) {
  ParamGroup g = hyper;
  g.params = std::move(params);
  init({g});
}
Adam::Adam(std::vector<ParamGroup> groups) { init(std::move(groups)); }

AdamW::AdamW(std::vector<Tensor> params, const ParamGroup& hyper) : Adam(true) {
  ParamGroup g = hyper;
  g.params = std::move(params);
  init({g});
}
AdamW::AdamW(std::vector<ParamGroup> groups) : Adam(true) { init(std::move(groups)); }

void Adam::step() {
  NoGradGuard ng;
  for_each_param_with_grad([&](ParamGroup& g, Tensor& p, const Tensor& grad, ParamState& s) {
    Tensor m = buffer(s, "exp_avg", p);
    Tensor v = buffer(s, "exp_avg_sq", p);
    Tensor vmax;
    if (g.amsgrad) vmax = buffer(s, "max_exp_avg_sq", p);
    int64_t t = ++s.step;
    double bc1 = 1.0 - std::pow(g.beta1, double(t));
    double bc2 = 1.0 - std::pow(g.beta2, double(t));
    int64_t n = p.numel();
    Device d = p.device();
    bool dec = decoupled_;
    LESEG_DISPATCH_FLOAT(p.dtype(), name(), {
      kernels::AdamParams<scalar_t> h{scalar_t(g.lr), scalar_t(g.beta1), scalar_t(g.beta2), scalar_t(g.eps),
                                      scalar_t(g.weight_decay), scalar_t(g.lr / bc1), scalar_t(std::sqrt(bc2)),
                                      dec, g.amsgrad};
      scalar_t* vm = vmax.defined() ? vmax.data<scalar_t>() : nullptr;
      LESEG_DISPATCH_DEVICE(d, name(),
                            kernels::adam_step_cpu<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(), m.data<scalar_t>(),
                                                             v.data<scalar_t>(), vm, n, h),
                            kernels::adam_step_cuda<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(), m.data<scalar_t>(),
                                                              v.data<scalar_t>(), vm, n, h, current_stream(d)));
    });
    p.bump_version();
    m.bump_version();
    v.bump_version();
  });
}

}  // namespace leseg
