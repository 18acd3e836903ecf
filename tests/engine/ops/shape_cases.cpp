// SPDX-License-Identifier: Apache-2.0
// Harness cases for engine/ops/shape_ops.h: concat / split (several dims, a unit piece), index_select
// (dim 0 with repeated indices, dim 1 with i32), index_add (repeated targets), embedding (2-D index).
#include "engine/ops/shape_ops.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {
using V = std::vector<Tensor>;

const int r = register_cases({
    OpCase{"concat", "dim1_2x3_2x5", {{Shape{2, 3}}, {Shape{2, 5}}}, [](const V& in) { return V{concat({in[0], in[1]}, 1)}; }},
    OpCase{"concat", "dim0_three", {{Shape{1, 4}}, {Shape{3, 4}}, {Shape{2, 4}}},
           [](const V& in) { return V{concat({in[0], in[1], in[2]}, 0)}; }},
    OpCase{"concat", "mid_3d", {{Shape{2, 1, 3}}, {Shape{2, 4, 3}}}, [](const V& in) { return V{concat({in[0], in[1]}, 1)}; }},
    OpCase{"split", "dim0_2_5", {{Shape{7, 4}}}, [](const V& in) { return split(in[0], {2, 5}, 0); }},
    OpCase{"split", "mid_1_3_1", {{Shape{2, 5, 3}}}, [](const V& in) { return split(in[0], {1, 3, 1}, 1); }},
    OpCase{"index_select", "dim0_repeats", {{Shape{6, 4}}, {Shape{9}, Gen::Index, false, 6, DType::i64}},
           [](const V& in) { return V{index_select(in[0], 0, in[1])}; }},
    OpCase{"index_select", "dim1_i32", {{Shape{3, 7}}, {Shape{5}, Gen::Index, false, 7, DType::i32}},
           [](const V& in) { return V{index_select(in[0], 1, in[1])}; }},
    OpCase{"index_add", "repeated_targets", {{Shape{5, 3}}, {Shape{8}, Gen::Index, false, 5, DType::i64}, {Shape{8, 3}}},
           [](const V& in) { return V{index_add(in[0], in[1], in[2])}; }},
    OpCase{"index_add", "scatter_add_i32", {{Shape{11}, Gen::Index, false, 4, DType::i32}, {Shape{11, 2}}},
           [](const V& in) { return V{scatter_add(4, in[0], in[1])}; }},
    OpCase{"embedding", "idx_2x3", {{Shape{2, 3}, Gen::Index, false, 7, DType::i32}, {Shape{7, 4}}},
           [](const V& in) { return V{embedding(in[0], in[1])}; }},
});
}  // namespace
}  // namespace leseg::testing
