// SPDX-License-Identifier: Apache-2.0
// Harness cases for the fused attention op (engine/ops/attention.h): gradient check in f64, accumulation,
// CPU/CUDA parity. Head dim 16 (the smallest the CUDA kernels take); inputs kept <= ~150 elements.
// Offsets and masks are fixed constants built in the case (not generated), on the inputs' device.
#include "engine/ops/attention.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {

Tensor offsets(std::vector<int64_t> cu, Device d) { return Tensor::from_vector(cu, Shape{int64_t(cu.size())}, d); }

// Default tolerances: attention is smooth and the inputs are O(1), central differences are accurate.
OpCase attention_case(std::string name, std::vector<InputSpec> inputs, CaseFn fn) {
  OpCase c;
  c.op = "attention";
  c.name = std::move(name);
  c.inputs = std::move(inputs);
  c.fn = std::move(fn);
  return c;
}

const int r = register_cases({
    // lengths 1, 5, 3: a one-key sequence, lengths not multiple of any tile; offsets on the host (i32)
    attention_case("self_ragged_len1", {{Shape{9, 1, 16}}, {Shape{9, 1, 16}}, {Shape{9, 1, 16}}},
                   [](const std::vector<Tensor>& in) {
                     Tensor cu = Tensor::from_vector<int32_t>({0, 1, 6, 9}, Shape{4});
                     return std::vector<Tensor>{attention(in[0], in[1], in[2], cu, cu)};
                   }),
    // class-query style cross-attention with a key mask and a differentiable per-key bias
    attention_case(
        "cross_mask_bias", {{Shape{5, 1, 16}}, {Shape{8, 1, 16}}, {Shape{8, 1, 16}}, {Shape{8, 1}}},
        [](const std::vector<Tensor>& in) {
          const Device d = in[0].device();
          AttentionOptions o;
          o.key_mask = Tensor::from_vector<uint8_t>({0, 1, 0, 0, 0, 1, 0, 0}, Shape{8}, d);
          o.key_bias = in[3];
          return std::vector<Tensor>{attention(in[0], in[1], in[2], offsets({0, 3, 5}, d), offsets({0, 5, 8}, d), o)};
        }),
    // two heads, explicit scale
    attention_case(
        "two_heads_scale", {{Shape{3, 2, 16}}, {Shape{4, 2, 16}}, {Shape{4, 2, 16}}},
        [](const std::vector<Tensor>& in) {
          AttentionOptions o;
          o.scale = 0.5;
          const Device d = in[0].device();
          return std::vector<Tensor>{attention(in[0], in[1], in[2], offsets({0, 3}, d), offsets({0, 4}, d), o)};
        }),
    // the second sequence has every key masked: its outputs and gradients are exactly 0
    attention_case(
        "fully_masked_sequence", {{Shape{4, 1, 16}}, {Shape{5, 1, 16}}, {Shape{5, 1, 16}}},
        [](const std::vector<Tensor>& in) {
          const Device d = in[0].device();
          AttentionOptions o;
          o.key_mask = Tensor::from_vector<uint8_t>({0, 0, 1, 1, 1}, Shape{5}, d);
          return std::vector<Tensor>{attention(in[0], in[1], in[2], offsets({0, 2, 4}, d), offsets({0, 3, 5}, d), o)};
        }),
});

}  // namespace
}  // namespace leseg::testing
