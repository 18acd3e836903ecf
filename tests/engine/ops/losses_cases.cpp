// SPDX-License-Identifier: Apache-2.0
// Harness cases for the fused losses (engine/ops/losses.h): gradient check (f64), accumulation, CPU/CUDA
// parity. Labels, class weights and teacher logits are fixed constants built on the inputs' device.
#include "engine/ops/losses.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {

Tensor labels(std::vector<int64_t> v, Device d) { return Tensor::from_vector(v, Shape{int64_t(v.size())}, d); }

const int r = register_cases({
    OpCase{"cross_entropy", "ignore_weights_smooth",
           {{Shape{7, 5}}},
           [](const std::vector<Tensor>& in) {
             const Device d = in[0].device();
             CrossEntropyOptions o;
             o.class_weights = Tensor::from_vector<double>({0.5, 1.0, 2.0, 0.25, 1.5}, Shape{5}).to(in[0].dtype()).to(d);
             o.label_smoothing = 0.1;
             return std::vector<Tensor>{cross_entropy(in[0], labels({0, 4, -1, 2, 3, -1, 1}, d), o)};
           }},
    OpCase{"cross_entropy", "prime_rows_classes",
           {{Shape{13, 11}}, {Shape{13}, Gen::Index, false, 11}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{cross_entropy(in[0], in[1])}; }},
    OpCase{"cross_entropy", "all_ignored",
           {{Shape{3, 4}}},
           [](const std::vector<Tensor>& in) {
             CrossEntropyOptions o;
             o.ignore_index = 255;
             return std::vector<Tensor>{cross_entropy(in[0], labels({255, 255, 255}, in[0].device()), o)};
           },
           1e-6, 1e-5, 1e-5, 1e-4, "", true, /*allow_zero=*/true},
    OpCase{"soft_cross_entropy", "grad_into_both",
           {{Shape{6, 5}}, {Shape{6, 5}, Gen::Positive}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{soft_cross_entropy(in[0], in[1])}; }},
    OpCase{"soft_cross_entropy", "stop_grad_target",
           {{Shape{5, 7}}, {Shape{5, 7}, Gen::Positive, /*grad=*/false}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{soft_cross_entropy(in[0], in[1], true)}; }},
    OpCase{"entropy", "prime",
           {{Shape{9, 7}}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{entropy(in[0])}; }},
    OpCase{"kl_div", "pq_T2_batchmean",
           {{Shape{5, 6}}, {Shape{5, 6}}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{kl_div(in[0], in[1], 2.0)}; }},
    OpCase{"kl_div", "qp_sum",
           {{Shape{4, 3}}, {Shape{4, 3}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{kl_div(in[0], in[1], 1.0, KLDirection::QP, KLReduction::Sum)};
           }},
    OpCase{"kl_div", "pq_mean_T05",
           {{Shape{3, 7}}, {Shape{3, 7}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{kl_div(in[0], in[1], 0.5, KLDirection::PQ, KLReduction::Mean)};
           }},
    OpCase{"negative_learning", "ignore",
           {{Shape{7, 5}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{negative_learning(in[0], labels({0, 4, -1, 2, 3, -1, 1}, in[0].device()))};
           }},
    OpCase{"negative_learning", "prime_c3",
           {{Shape{11, 3}}, {Shape{11}, Gen::Index, false, 3}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{negative_learning(in[0], in[1])}; }},
    OpCase{"confidence_split", "mixed_rows",
           {{Shape{6, 3}}},
           [](const std::vector<Tensor>& in) {
             Tensor t = Tensor::from_vector<double>({5, 0, 0, 0.1, 0.2, 0, 1, 1, -3, -2, 6, 0, 0, 0, 0.3, 0, 0, 9},
                                                    Shape{6, 3})
                            .to(in[0].dtype())
                            .to(in[0].device());
             ConfidenceSplit s = confidence_split(in[0], t, 0.7);
             return std::vector<Tensor>{s.loss_ce, s.loss_nl};
           }},
    OpCase{"cosine_embedding_loss", "prime_dim",
           {{Shape{5, 7}}, {Shape{5, 7}}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{cosine_embedding_loss(in[0], in[1])}; }},
    OpCase{"mse_loss", "three_dims",
           {{Shape{2, 3, 5}}, {Shape{2, 3, 5}}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{mse_loss(in[0], in[1])}; }},
});

}  // namespace
}  // namespace leseg::testing
