// SPDX-License-Identifier: Apache-2.0
#include "engine/optim/loss_scaler.h"

#include <algorithm>
#include <cmath>

#include "kernels/optim/optim.h"  // before the engine ops: its optim_sqrt must not see leseg::sqrt(Tensor)
#include "engine/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/clip_grad.h"

namespace leseg {

LossScaler::LossScaler(LossScalerOptions o) : opt_(o), scale_(o.init_scale) {
  LESEG_CHECK(o.init_scale > 0 && std::isfinite(o.init_scale), "loss scaler: init_scale ", o.init_scale,
              " must be finite and > 0");
  LESEG_CHECK(o.growth_factor > 1.0, "loss scaler: growth_factor ", o.growth_factor, " must be > 1");
  LESEG_CHECK(o.backoff_factor > 0.0 && o.backoff_factor < 1.0, "loss scaler: backoff_factor ", o.backoff_factor,
              " must be in (0, 1)");
  LESEG_CHECK(o.growth_interval >= 1, "loss scaler: growth_interval ", o.growth_interval, " must be >= 1");
}

Tensor LossScaler::scale(const Tensor& loss) const { return mul(loss, scale_); }

bool LossScaler::unscale_(const std::vector<Tensor>& params) const {
  const double inv = 1.0 / scale_;
  NoGradGuard ng;
  for (const Tensor& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined() || g.numel() == 0) continue;
    Device d = g.device();
    const int64_t n = g.numel();
    LESEG_DISPATCH_FLOAT(g.dtype(), "loss scaler unscale_", {
      LESEG_DISPATCH_DEVICE(d, "loss scaler unscale_", kernels::scale_cpu<scalar_t>(g.data<scalar_t>(), n, scalar_t(inv)),
                            kernels::scale_cuda<scalar_t>(g.data<scalar_t>(), n, scalar_t(inv), current_stream(d)));
    });
    g.bump_version();
  }
  return std::isfinite(grad_norm(params, 2.0));  // an inf or NaN anywhere makes the L2 norm non-finite
}

void LossScaler::update(bool found_inf) {
  if (found_inf) {
    scale_ = std::max(opt_.min_scale, scale_ * opt_.backoff_factor);
    streak_ = 0;
    ++skipped_;
    return;
  }
  if (++streak_ >= opt_.growth_interval) {
    const double grown = scale_ * opt_.growth_factor;
    if (std::isfinite(grown) && grown <= 3.0e38) scale_ = grown;
    streak_ = 0;
  }
}

StateDict LossScaler::state_dict() const {
  StateDict sd;
  sd["scale"] = Tensor::scalar<double>(scale_);
  sd["streak"] = Tensor::scalar<int64_t>(streak_);
  sd["skipped"] = Tensor::scalar<int64_t>(skipped_);
  return sd;
}

void LossScaler::load_state_dict(const StateDict& sd) {
  for (const char* k : {"scale", "streak", "skipped"})
    LESEG_CHECK(sd.count(k) && sd.at(k).defined() && sd.at(k).numel() == 1, "loss scaler state: key '", k,
                "' missing or not a scalar");
  const double s = sd.at("scale").item_double();
  LESEG_CHECK(s > 0 && std::isfinite(s), "loss scaler state: scale ", s, " must be finite and > 0");
  scale_ = s;
  streak_ = int64_t(sd.at("streak").item_double());
  skipped_ = int64_t(sd.at("skipped").item_double());
}

}  // namespace leseg
