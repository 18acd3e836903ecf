// SPDX-License-Identifier: Apache-2.0
// Harness cases for segment reductions (engine/ops/segment.h). Group ids are fixed constants with empty
// groups and elements in no group (-1); segment_max uses distinct values (no ties: finite differences).
#include "engine/ops/segment.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {

Tensor ids(std::vector<int64_t> v, Device d) { return Tensor::from_vector(v, Shape{int64_t(v.size())}, d); }

const int r = register_cases({
    OpCase{"segment_sum", "empty_groups_and_none",
           {{Shape{9, 3}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{segment_sum(in[0], ids({0, 2, 0, -1, 2, 2, 4, 0, 2}, in[0].device()), 5)};
           }},
    OpCase{"segment_sum", "vector_random_groups",
           {{Shape{7}}, {Shape{7}, Gen::Index, false, 3}},
           [](const std::vector<Tensor>& in) { return std::vector<Tensor>{segment_sum(in[0], in[1], 3)}; }},
    OpCase{"segment_mean", "empty_groups_and_none",
           {{Shape{10, 4}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{segment_mean(in[0], ids({1, 1, 3, -1, 3, 3, 0, 1, 3, 0}, in[0].device()), 5)};
           }},
    OpCase{"segment_max", "distinct",
           {{Shape{9, 3}, Gen::Distinct}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{segment_max(in[0], ids({0, 2, 0, -1, 2, 2, 4, 0, 2}, in[0].device()), 5)};
           }},
    OpCase{"segment_gather", "broadcast_back",
           {{Shape{4, 3}}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{segment_gather(in[0], ids({3, 0, -1, 3, 1, 0, 3}, in[0].device()))};
           }},
    OpCase{"soft_vote", "mean_prob_per_group",
           {{Shape{8, 3}, Gen::Positive}},
           [](const std::vector<Tensor>& in) {
             return std::vector<Tensor>{soft_vote(in[0], ids({0, 1, 0, 2, 1, -1, 0, 2}, in[0].device()), 4)};
           }},
});

}  // namespace
}  // namespace leseg::testing
