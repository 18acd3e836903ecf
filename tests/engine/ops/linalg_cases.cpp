// SPDX-License-Identifier: Apache-2.0
// Harness cases for engine/ops/linalg.h: matmul (2-D, batched, broadcast operands, transpose flags),
// transpose / permute / t, linear (with / without bias, 1-D and 3-D inputs). Odd, prime and unit sizes.
#include "engine/ops/linalg.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {
using V = std::vector<Tensor>;

const int r = register_cases({
    OpCase{"matmul", "2d_7x5x3", {{Shape{7, 5}}, {Shape{5, 3}}}, [](const V& in) { return V{matmul(in[0], in[1])}; }},
    OpCase{"matmul", "row_times_col", {{Shape{1, 7}}, {Shape{7, 1}}}, [](const V& in) { return V{matmul(in[0], in[1])}; }},
    OpCase{"matmul", "batched_rhs_bcast", {{Shape{2, 3, 5}}, {Shape{5, 4}}},
           [](const V& in) { return V{matmul(in[0], in[1])}; }},
    OpCase{"matmul", "lhs_bcast_trans_b", {{Shape{3, 5}}, {Shape{2, 4, 5}}},
           [](const V& in) { return V{matmul(in[0], in[1], false, true)}; }},
    OpCase{"matmul", "batched_trans_a", {{Shape{2, 5, 3}}, {Shape{2, 5, 4}}},
           [](const V& in) { return V{matmul(in[0], in[1], true, false)}; }},
    OpCase{"matmul", "trans_both", {{Shape{5, 3}}, {Shape{4, 5}}},
           [](const V& in) { return V{matmul(in[0], in[1], true, true)}; }},
    OpCase{"matmul", "rhs_bcast_trans_a_b", {{Shape{3, 5, 2}}, {Shape{4, 5}}},
           [](const V& in) { return V{matmul(in[0], in[1], true, true)}; }},
    OpCase{"matmul", "batch_bcast_2x1_1x3", {{Shape{2, 1, 3, 2}}, {Shape{1, 3, 2, 2}}},
           [](const V& in) { return V{matmul(in[0], in[1])}; }},
    OpCase{"matmul", "4d_batched", {{Shape{2, 2, 3, 2}}, {Shape{2, 2, 2, 3}}},
           [](const V& in) { return V{matmul(in[0], in[1])}; }},
    OpCase{"transpose", "3d_swap_0_2", {{Shape{2, 3, 5}}}, [](const V& in) { return V{transpose(in[0], 0, 2)}; }},
    OpCase{"transpose", "permute_120", {{Shape{2, 3, 4}}}, [](const V& in) { return V{permute(in[0], {1, 2, 0})}; }},
    OpCase{"transpose", "t_4x7", {{Shape{4, 7}}}, [](const V& in) { return V{t(in[0])}; }},
    OpCase{"linear", "3d_bias", {{Shape{2, 3, 5}}, {Shape{4, 5}}, {Shape{4}}},
           [](const V& in) { return V{linear(in[0], in[1], in[2])}; }},
    OpCase{"linear", "no_bias", {{Shape{7, 5}}, {Shape{3, 5}}}, [](const V& in) { return V{linear(in[0], in[1])}; }},
    OpCase{"linear", "1d_input", {{Shape{5}}, {Shape{3, 5}}, {Shape{3}}},
           [](const V& in) { return V{linear(in[0], in[1], in[2])}; }},
});
}  // namespace
}  // namespace leseg::testing
