// SPDX-License-Identifier: Apache-2.0
// Synchronised BatchNorm (training mode): the statistics of x (N, C) are taken over the rows of every rank.
//   forward:  S = allreduce(Σ x, N); mean = S/N_tot; V = allreduce(Σ (x − mean)²)/N_tot (two passes: no
//             cancellation); y = (x − mean)/sqrt(V + eps)·w + b; running stats as batch_norm (unbiased
//             V·N_tot/(N_tot − 1)). The cross-rank sums are in f64.
//   backward: G = allreduce(Σ g), GX = allreduce(Σ g·x̂); dx = w/sqrt(V + eps)·(g − G/N_tot − x̂·GX/N_tot);
//             dw = Σ g·x̂, db = Σ g over this rank's rows only (the gradient reducer sums them over the ranks).
// With per-rank losses weighted so that their sum is the global objective (train/distributed.h), this is the
// exact gradient of that objective: K ranks × B scenes compute what one process computes on K·B scenes.
// Every rank must call it in the same order (same model, same graph): the all-reduces pair up.
#pragma once
#include "engine/distributed/comm.h"
#include "engine/tensor.h"

namespace leseg::dist {

Tensor sync_batch_norm(Communicator& comm, const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                       const Tensor& weight, const Tensor& bias, double momentum, double eps);

}  // namespace leseg::dist
