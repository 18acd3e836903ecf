// SPDX-License-Identifier: Apache-2.0
// Harness cases for engine/ops/nn_functional.h: softmax / log_softmax (last and middle dims), layer_norm
// (affine and not), batch_norm (train with running buffers, 3-D input, eval), dropout (a generator with a
// fixed seed built inside the case so every finite-difference forward draws the same mask),
// l2_normalize, cosine_similarity.
#include "engine/ops/nn_functional.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {
using V = std::vector<Tensor>;

Tensor running(std::vector<double> v, const Tensor& like) {
  return Tensor::from_vector(v, Shape{int64_t(v.size())}).to(like.dtype()).to(like.device());
}

const int r = register_cases({
    OpCase{"softmax", "last_3x7", {{Shape{3, 7}}}, [](const V& in) { return V{softmax(in[0], -1)}; }},
    OpCase{"softmax", "mid_2x5x3", {{Shape{2, 5, 3}}}, [](const V& in) { return V{softmax(in[0], 1)}; }},
    OpCase{"softmax", "one_row_1x5", {{Shape{1, 5}}}, [](const V& in) { return V{softmax(in[0], -1)}; }},
    OpCase{"log_softmax", "last_4x9", {{Shape{4, 9}}}, [](const V& in) { return V{log_softmax(in[0], -1)}; }},
    OpCase{"log_softmax", "first_3x2x4", {{Shape{3, 2, 4}}}, [](const V& in) { return V{log_softmax(in[0], 0)}; }},
    OpCase{"layer_norm", "affine_5x7", {{Shape{5, 7}}, {Shape{7}}, {Shape{7}}},
           [](const V& in) { return V{layer_norm(in[0], in[1], in[2])}; }, 1e-5, 1e-4, 1e-5, 1e-4,
           "normalisation divides by std of 7 N(0,1) values: central differences lose ~1e-6 absolute"},
    OpCase{"layer_norm", "plain_2x3x6", {{Shape{2, 3, 6}}}, [](const V& in) { return V{layer_norm(in[0])}; }, 1e-5, 1e-4,
           1e-5, 1e-4, "as affine_5x7"},
    OpCase{"batch_norm", "train_6x4_running", {{Shape{6, 4}}, {Shape{4}}, {Shape{4}}},
           [](const V& in) {
             Tensor rm = running({0.1, -0.2, 0.3, 0.0}, in[0]), rv = running({1.0, 2.0, 0.5, 1.5}, in[0]);
             return V{batch_norm(in[0], rm, rv, in[1], in[2], true, 0.1, 1e-5)};
           },
           1e-5, 1e-4, 1e-5, 1e-4, "batch statistics over 6 samples: central differences lose ~1e-6 absolute"},
    OpCase{"batch_norm", "train_3x2x5_noaffine", {{Shape{3, 2, 5}}},
           [](const V& in) { return V{batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true)}; }, 1e-5, 1e-4,
           1e-5, 1e-4, "as train_6x4_running"},
    OpCase{"batch_norm", "eval_5x3", {{Shape{5, 3}}, {Shape{3}}, {Shape{3}}},
           [](const V& in) {
             Tensor rm = running({0.5, -1.0, 0.25}, in[0]), rv = running({2.0, 0.5, 1.0}, in[0]);
             return V{batch_norm(in[0], rm, rv, in[1], in[2], false)};
           }},
    OpCase{"dropout", "p03_seed42_9x11", {{Shape{9, 11}}},
           [](const V& in) {
             Generator g(42);
             return V{dropout(in[0], 0.3, true, g)};
           }},
    OpCase{"dropout", "eval_identity", {{Shape{4, 5}}},
           [](const V& in) {
             Generator g(1);
             return V{dropout(in[0], 0.5, false, g)};
           }},
    OpCase{"l2_normalize", "last_5x6", {{Shape{5, 6}}}, [](const V& in) { return V{l2_normalize(in[0], -1)}; }},
    OpCase{"l2_normalize", "mid_3x4x2", {{Shape{3, 4, 2}}}, [](const V& in) { return V{l2_normalize(in[0], 1)}; }},
    OpCase{"cosine_similarity", "last_5x6", {{Shape{5, 6}}, {Shape{5, 6}}},
           [](const V& in) { return V{cosine_similarity(in[0], in[1], -1)}; }},
    OpCase{"cosine_similarity", "mid_3x4x2", {{Shape{3, 4, 2}}, {Shape{3, 4, 2}}},
           [](const V& in) { return V{cosine_similarity(in[0], in[1], 1)}; }},
});
}  // namespace
}  // namespace leseg::testing
