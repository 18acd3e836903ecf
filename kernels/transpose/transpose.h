// SPDX-License-Identifier: Apache-2.0
// permute: out = x.permute(perm) materialised (a gather copy).      defines: permute_cpu, permute_cuda
//   x: (d_0, …, d_{n-1}) row-major; out: (d_perm[0], …, d_perm[n-1]) row-major.
//   transpose(x, i, j) is the permute that swaps i and j; t() is transpose(0, 1) of a 2-D tensor.
// Gradient: the inverse permutation applied to the output gradient (engine/ops/linalg.cpp).
// T: every storage type (a copy does no arithmetic).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/transpose/transpose_math.h"

namespace leseg::kernels {
template <class T> void permute_cpu(const T* x, T* out, const PermuteParams& p);
template <class T> void permute_cuda(const T* x, T* out, const PermuteParams& p, StreamHandle stream);
}  // namespace leseg::kernels
