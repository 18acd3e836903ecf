// SPDX-License-Identifier: Apache-2.0
// NumPy broadcasting for pointer-level kernels. A BroadcastIndex holds the output shape and, per
// operand, element strides into that operand (0 on dimensions the operand broadcasts over). It is a
// small POD passed by value to kernels (CPU and CUDA alike). Up to kMaxBroadcastDims dims, 64-bit sizes.
//   offsets(i): output linear index i -> per-operand element offsets.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/common/check.h"
#include "kernels/common/hd.h"

namespace leseg::kernels {

constexpr int kMaxBroadcastDims = 6;
constexpr int kMaxBroadcastOperands = 3;

struct BroadcastIndex {
  int ndim = 0;
  int64_t shape[kMaxBroadcastDims] = {};
  int64_t stride[kMaxBroadcastOperands][kMaxBroadcastDims] = {};

  // Element offset of operand k for output linear index i.
  LESEG_HD int64_t offset(int k, int64_t i) const {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t c = i % shape[d];
      i /= shape[d];
      off += c * stride[k][d];
    }
    return off;
  }
  LESEG_HD void offsets2(int64_t i, int64_t& o0, int64_t& o1) const {
    o0 = 0, o1 = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t c = i % shape[d];
      i /= shape[d];
      o0 += c * stride[0][d];
      o1 += c * stride[1][d];
    }
  }
  LESEG_HD void offsets3(int64_t i, int64_t& o0, int64_t& o1, int64_t& o2) const {
    o0 = 0, o1 = 0, o2 = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t c = i % shape[d];
      i /= shape[d];
      o0 += c * stride[0][d];
      o1 += c * stride[1][d];
      o2 += c * stride[2][d];
    }
  }
};

// Broadcast shape of `shapes` (right-aligned; a dim of 1 stretches). Throws std::invalid_argument when two
// dims differ and neither is 1.
inline std::vector<int64_t> broadcast_shape(const std::vector<std::vector<int64_t>>& shapes) {
  size_t nd = 0;
  for (const auto& s : shapes) nd = s.size() > nd ? s.size() : nd;
  std::vector<int64_t> out(nd, 1);
  for (const auto& s : shapes) {
    for (size_t j = 0; j < s.size(); ++j) {
      size_t d = nd - s.size() + j;
      if (s[j] == out[d] || s[j] == 1) continue;
      LESEG_KCHECK(out[d] == 1, "shapes are not broadcastable: dim ", d, " is ", out[d], " vs ", s[j]);
      out[d] = s[j];
    }
  }
  return out;
}

// Index from `out` (the broadcast shape) to each operand shape (each right-aligned and broadcastable to
// `out`). Operands of fewer dims get leading strides of 0.
inline BroadcastIndex make_broadcast_index(const std::vector<int64_t>& out,
                                           const std::vector<std::vector<int64_t>>& operands) {
  LESEG_KCHECK(out.size() <= size_t(kMaxBroadcastDims), "broadcast: ", out.size(), " dims (max ", kMaxBroadcastDims, ")");
  LESEG_KCHECK(operands.size() <= size_t(kMaxBroadcastOperands), "broadcast: too many operands");
  BroadcastIndex b;
  b.ndim = int(out.size());
  for (int d = 0; d < b.ndim; ++d) b.shape[d] = out[d];
  for (size_t k = 0; k < operands.size(); ++k) {
    const auto& s = operands[k];
    LESEG_KCHECK(s.size() <= out.size(), "broadcast: operand has more dims than the output");
    int64_t st = 1;
    for (int d = b.ndim - 1; d >= 0; --d) {
      int j = d - (b.ndim - int(s.size()));
      int64_t sz = j >= 0 ? s[j] : 1;
      LESEG_KCHECK(sz == out[d] || sz == 1, "broadcast: operand dim ", sz, " does not broadcast to ", out[d]);
      b.stride[k][d] = (sz == 1) ? 0 : st;
      st *= sz;
    }
  }
  // Coalesce: drop output dims of size 1 and merge dim d into d+1 when every operand walks them as one
  // contiguous (or wholly broadcast) run. (N, C) + (C,) becomes 2 dims, (A, B, C) + (A, B, C) one: fewer
  // divisions per element. Offsets are unchanged, so this is invisible to the kernels.
  BroadcastIndex c;
  const int nops = int(operands.size());
  for (int d = 0; d < b.ndim; ++d) {
    if (b.shape[d] == 1 && b.ndim > 1) continue;
    bool merge = c.ndim > 0;
    for (int k = 0; k < nops && merge; ++k) merge = c.stride[k][c.ndim - 1] == b.stride[k][d] * b.shape[d];
    if (merge) {
      c.shape[c.ndim - 1] *= b.shape[d];
      for (int k = 0; k < nops; ++k) c.stride[k][c.ndim - 1] = b.stride[k][d];
    } else {
      c.shape[c.ndim] = b.shape[d];
      for (int k = 0; k < nops; ++k) c.stride[k][c.ndim] = b.stride[k][d];
      ++c.ndim;
    }
  }
  return c;
}

}  // namespace leseg::kernels
