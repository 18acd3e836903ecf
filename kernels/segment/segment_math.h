// SPDX-License-Identifier: Apache-2.0
// Shared math of segment reductions and voting.
// Vote key: the mode of a group is the class with the largest float(Σ weight), ties to the smallest class
// id. Packing (float bits of the positive score) << 32 | (0xffffffff - class) into a uint64 makes that one
// unsigned max, so the CPU loop, the histogram kernel and the sort-based kernel (atomicMax) all agree
// bit for bit. Scores must be > 0 (positive float bits order like the floats); key 0 = "no vote".
#pragma once
#include <cstdint>

#include "kernels/common/half_math.h"
#include "kernels/common/hd.h"

namespace leseg::kernels::segment {

LESEG_HD uint64_t vote_pack(double score, int64_t cls) {
  return (uint64_t(float_bits(float(score))) << 32) | uint64_t(0xffffffffu - uint32_t(cls));
}
LESEG_HD int64_t vote_unpack(uint64_t key, int64_t ignore) {
  return key == 0 ? ignore : int64_t(0xffffffffu - uint32_t(key & 0xffffffffu));
}
// An element votes when its group and label are in range and its weight is positive.
LESEG_HD bool vote_valid(int64_t g, int64_t y, int64_t G, int64_t C, int64_t ignore, double w) {
  return g >= 0 && g < G && y != ignore && y >= 0 && y < C && w > 0.0;
}

}  // namespace leseg::kernels::segment
