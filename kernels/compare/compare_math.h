// SPDX-License-Identifier: Apache-2.0
// Comparison and logical predicates (LESEG_HD), shared by CPU and CUDA. Results are u8 0/1.
// NaN compares false for every predicate except ne (IEEE).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge, logical_and, logical_or };

template <class T>
LESEG_HD uint8_t compare_apply(CompareOp op, T a, T b) {
  switch (op) {
    case CompareOp::eq: return a == b;
    case CompareOp::ne: return a != b;
    case CompareOp::lt: return a < b;
    case CompareOp::le: return a <= b;
    case CompareOp::gt: return a > b;
    case CompareOp::ge: return a >= b;
    case CompareOp::logical_and: return (a != T(0)) && (b != T(0));
    case CompareOp::logical_or: return (a != T(0)) || (b != T(0));
  }
  return 0;
}

}  // namespace leseg::kernels
