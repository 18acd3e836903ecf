// SPDX-License-Identifier: Apache-2.0
// Prefix sums of integers: out[i] = Σ_{j < i} x[j] (exclusive) or Σ_{j <= i} x[j] (inclusive), u8, i32 or i64 in, i64
// out. Integer sums are exact, so the CUDA scan (CUB DeviceScan, in place over the widened input) equals the CPU twin
// (the spec: one pass in index order) bit for bit, whatever the tree order. Used to rank elements on the device (the
// k-th selected element's k, offsets from counts) without reading anything back. Pointers only.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

template <class T>
void cumsum_i64_cpu(const T* x, int64_t n, bool exclusive, int64_t* out);

// Workspace for cumsum_i64_cuda of n elements (bytes; 0 when n == 0).
size_t cumsum_i64_cuda_workspace_bytes(int64_t n);
template <class T>
void cumsum_i64_cuda(const T* x, int64_t n, bool exclusive, int64_t* out, void* ws, size_t ws_bytes, StreamHandle s);

}  // namespace leseg::kernels
