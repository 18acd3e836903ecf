// SPDX-License-Identifier: Apache-2.0
// Layer ops (autograd): softmax / log_softmax, layer_norm, batch_norm, dropout, l2_normalize,
// cosine_similarity. Each calls its kernel (kernels/softmax, layer_norm, batch_norm, dropout, l2_normalize)
// for the tensor's device; formulas and gradient derivations are in the kernel headers. f32/f64.
#pragma once
#include "engine/rng.h"
#include "engine/tensor.h"

namespace leseg {

// Stable (max-subtracted) softmax along `dim` (negative counts from the end).
Tensor softmax(const Tensor& x, int dim = -1);
Tensor log_softmax(const Tensor& x, int dim = -1);

// Normalise over the last dim D of x (…, D); weight / bias (D) optional (undefined = 1 / 0).
Tensor layer_norm(const Tensor& x, const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), double eps = 1e-5);

// x (N, C) or (N, C, L…). training: normalise with batch statistics (biased variance) and update
// running_mean / running_var in place when defined (new = (1 − momentum)·old + momentum·batch, unbiased
// variance; bump_version); needs more than one value per channel. Eval: normalise with the running
// statistics (must be defined). weight / bias (C) optional. Gradients for x, weight, bias in both modes.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// Zero each element with probability p (Philox bernoulli mask from `gen`), scale the rest by 1/(1 − p).
// Identity (the same tensor) when !training or p == 0. p in [0, 1); p == 1 gives zeros.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
Tensor dropout(const Tensor& x, double p, bool training);  // default_generator()

// x / max(‖x‖₂, eps) along `dim`.
Tensor l2_normalize(const Tensor& x, int dim = -1, double eps = 1e-12);
// Σ_dim (a / max(‖a‖, eps))·(b / max(‖b‖, eps)); a and b have equal shapes; `dim` is removed.
Tensor cosine_similarity(const Tensor& a, const Tensor& b, int dim = -1, double eps = 1e-8);

}  // namespace leseg
