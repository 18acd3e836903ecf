// SPDX-License-Identifier: Apache-2.0
// Harness cases for engine/ops/conv2d.h: conv2d (stride 2 / padding 1 / dilation 2 / 1×1 / no bias / rectangular
// kernels and odd sizes), max / avg / adaptive-avg pooling, bilinear interpolation (both align_corners modes,
// up and down). Inputs stay <= ~150 elements (central differences cost two forwards per element).
#include "engine/ops/conv2d.h"
#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {
namespace {
using V = std::vector<Tensor>;

const int r = register_cases({
    OpCase{"conv2d", "s2_p1_d2_1x2x5x7_k3", {{Shape{1, 2, 5, 7}}, {Shape{3, 2, 3, 3}}, {Shape{3}}},
           [](const V& in) { return V{conv2d(in[0], in[1], in[2], 2, 1, 2)}; }},
    OpCase{"conv2d", "s1_p1_2x3x4x5_k3_nobias", {{Shape{2, 3, 4, 5}}, {Shape{4, 3, 3, 3}}},
           [](const V& in) { return V{conv2d(in[0], in[1], Tensor(), 1, 1, 1)}; }},
    OpCase{"conv2d", "rect_k2x3_s(2,1)_p(0,2)", {{Shape{1, 2, 6, 5}}, {Shape{2, 2, 2, 3}}, {Shape{2}}},
           [](const V& in) { return V{conv2d(in[0], in[1], in[2], Size2(2, 1), Size2(0, 2), 1)}; }},
    OpCase{"conv2d", "pointwise_2x5x3x3_to7", {{Shape{2, 5, 3, 3}}, {Shape{7, 5, 1, 1}}, {Shape{7}}},
           [](const V& in) { return V{conv2d(in[0], in[1], in[2])}; }},
    OpCase{"conv2d", "1x1_stride2_1x3x5x5", {{Shape{1, 3, 5, 5}}, {Shape{2, 3, 1, 1}}},
           [](const V& in) { return V{conv2d(in[0], in[1], Tensor(), 2)}; }},
    OpCase{"conv2d", "dil3_pad3_1x1x7x7", {{Shape{1, 1, 7, 7}}, {Shape{2, 1, 3, 3}}, {Shape{2}}},
           [](const V& in) { return V{conv2d(in[0], in[1], in[2], 1, 3, 3)}; }},
    OpCase{"max_pool2d", "k3_s2_p1_2x2x5x7", {{Shape{2, 2, 5, 7}, Gen::Distinct}},
           [](const V& in) { return V{max_pool2d(in[0], 3, 2, 1)}; }},
    OpCase{"max_pool2d", "k2_default_stride_3x4x6", {{Shape{3, 4, 6}, Gen::Distinct}},
           [](const V& in) { return V{max_pool2d(in[0], 2)}; }},
    OpCase{"avg_pool2d", "k3_s2_p1_incl_2x2x5x7", {{Shape{2, 2, 5, 7}}},
           [](const V& in) { return V{avg_pool2d(in[0], 3, 2, 1, true)}; }},
    OpCase{"avg_pool2d", "k3_s2_p1_excl_1x3x5x6", {{Shape{1, 3, 5, 6}}},
           [](const V& in) { return V{avg_pool2d(in[0], 3, 2, 1, false)}; }},
    OpCase{"avg_pool2d", "k(2,3)_s1_1x2x4x5", {{Shape{1, 2, 4, 5}}},
           [](const V& in) { return V{avg_pool2d(in[0], Size2(2, 3), 1)}; }},
    OpCase{"adaptive_avg_pool2d", "global_2x3x5x7", {{Shape{2, 3, 5, 7}}},
           [](const V& in) { return V{adaptive_avg_pool2d(in[0], 1)}; }},
    OpCase{"adaptive_avg_pool2d", "3x2_from_1x2x7x5", {{Shape{1, 2, 7, 5}}},
           [](const V& in) { return V{adaptive_avg_pool2d(in[0], Size2(3, 2))}; }},
    OpCase{"adaptive_avg_pool2d", "up_4x6_from_2x3x3", {{Shape{2, 3, 3}}},
           [](const V& in) { return V{adaptive_avg_pool2d(in[0], Size2(4, 6))}; }},
    OpCase{"interpolate_bilinear", "up_ac_false_1x2x3x4_to_7x9", {{Shape{1, 2, 3, 4}}},
           [](const V& in) { return V{interpolate_bilinear(in[0], Size2(7, 9), false)}; }},
    OpCase{"interpolate_bilinear", "up_ac_true_2x1x3x5_to_8x11", {{Shape{2, 1, 3, 5}}},
           [](const V& in) { return V{interpolate_bilinear(in[0], Size2(8, 11), true)}; }},
    OpCase{"interpolate_bilinear", "down_ac_false_1x2x9x7_to_4x3", {{Shape{1, 2, 9, 7}}},
           [](const V& in) { return V{interpolate_bilinear(in[0], Size2(4, 3), false)}; }},
    OpCase{"interpolate_bilinear", "down_ac_true_1x1x11x13_to_5x1", {{Shape{1, 1, 11, 13}}},
           [](const V& in) { return V{interpolate_bilinear(in[0], Size2(5, 1), true)}; }},
    OpCase{"interpolate_bilinear", "from_1x1_to_3x4", {{Shape{1, 3, 1, 1}}},
           [](const V& in) { return V{interpolate_bilinear(in[0], Size2(3, 4), false)}; }},
});
}  // namespace
}  // namespace leseg::testing
