// SPDX-License-Identifier: Apache-2.0
// Weight initialisers (torch.nn.init semantics), filling a tensor in place from a Generator. Fans follow
// PyTorch's convention for a weight of shape (out, in, *kernel): fan_in = in * prod(kernel),
// fan_out = out * prod(kernel); 1-D tensors have fan_in = fan_out = size(0). Values are drawn on the CPU
// from the generator's Philox stream and copied to the tensor's device (same seed -> same values anywhere).
//   kaiming_uniform_: U(-b, b), b = gain * sqrt(3 / fan), gain = sqrt(2 / (1 + a^2)) (leaky_relu) or sqrt(2) (relu)
//   kaiming_normal_ : N(0, (gain / sqrt(fan))^2)
//   xavier_uniform_ : U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out));  xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out))
#pragma once
#include <cstdint>

#include "engine/rng.h"
#include "engine/tensor.h"

namespace leseg::init {

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, relu, leaky_relu, tanh, sigmoid };

struct Fans {
  int64_t in = 0, out = 0;
};
Fans compute_fans(const Shape& s);
double calculate_gain(Nonlinearity nl, double a = 0.01);

void uniform_(Tensor& t, double lo, double hi, Generator& g);
void normal_(Tensor& t, double mean, double std, Generator& g);
void zeros_(Tensor& t);
void ones_(Tensor& t);
void constant_(Tensor& t, double v);
void kaiming_uniform_(Tensor& t, Generator& g, double a = 0.0, FanMode mode = FanMode::fan_in,
                      Nonlinearity nl = Nonlinearity::leaky_relu);
void kaiming_normal_(Tensor& t, Generator& g, double a = 0.0, FanMode mode = FanMode::fan_in,
                     Nonlinearity nl = Nonlinearity::leaky_relu);
void xavier_uniform_(Tensor& t, Generator& g, double gain = 1.0);
void xavier_normal_(Tensor& t, Generator& g, double gain = 1.0);

}  // namespace leseg::init
