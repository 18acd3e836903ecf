// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/sgd.h"

#include "engine/autograd.h"
#include "kernels/optim/optim.h"

namespace leseg {

namespace {
void check_sgd_group(const ParamGroup& g) {
  LESEG_CHECK(g.momentum >= 0, "SGD: momentum ", g.momentum, " < 0");
  LESEG_CHECK(!g.nesterov || (g.momentum > 0 && g.dampening == 0), "SGD: nesterov needs momentum > 0 and dampening 0 (got momentum ",
              g.momentum, ", dampening ", g.dampening, ")");
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, const ParamGroup& hyper) {
  ParamGroup g = hyper;
  g.params = std::move(params);
  check_sgd_group(g);
  add_param_group(std::move(g));
}

SGD::SGD(std::vector<ParamGroup> groups) {
  for (auto& g : groups) {
    check_sgd_group(g);
    add_param_group(std::move(g));
  }
}

void SGD::step() {
  NoGradGuard ng;
  for_each_param_with_grad([&](ParamGroup& g, Tensor& p, const Tensor& grad, ParamState& s) {
    bool first = !s.buffers.count("momentum_buffer");  // PyTorch: buf is None -> buf = d
    Tensor buf;
    if (g.momentum != 0) buf = buffer(s, "momentum_buffer", p);
    ++s.step;
    int64_t n = p.numel();
    Device d = p.device();
    LESEG_DISPATCH_FLOAT(p.dtype(), "SGD.step", {
      kernels::SgdParams<scalar_t> h{scalar_t(g.lr), scalar_t(g.momentum), scalar_t(g.dampening),
                                     scalar_t(g.weight_decay), g.nesterov, first};
      scalar_t* bp = buf.defined() ? buf.data<scalar_t>() : nullptr;
      LESEG_DISPATCH_DEVICE(d, "SGD.step", kernels::sgd_step_cpu<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(), bp, n, h),
                            kernels::sgd_step_cuda<scalar_t>(p.data<scalar_t>(), grad.data<scalar_t>(), bp, n, h,
                                                             current_stream(d)));
    });
    p.bump_version();
    if (buf.defined()) buf.bump_version();
  });
}

}  // namespace leseg
