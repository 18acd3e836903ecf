// SPDX-License-Identifier: Apache-2.0
// Test oracles for the sparse ops: a dense 3D convolution on the densified grid (double precision) and random
// sparse inputs. Shared by the CPU tests and the CPU-vs-CUDA parity tests of this folder.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <vector>

namespace leseg::testing {

using Coord = std::tuple<int32_t, int32_t, int32_t, int32_t>;  // (b, x, y, z)

// Unique random coordinates: batch in [0, B), x, y, z multiples of `stride` in [-extent, extent] * stride,
// each candidate kept with probability `density`; order shuffled deterministically by the seed.
std::vector<int32_t> random_coords(int B, int extent, double density, int32_t stride, uint64_t seed);
// Small integers in [-2, 2] (exact sums in f32 and f64: the comparison can be tight).
std::vector<double> random_ints(int64_t n, uint64_t seed);

// Offset of kernel index k (x fastest) with the MinkowskiEngine anchor: odd K centred, even K in [0, K-1].
void oracle_offset(int k, int K, int dilation, int32_t stride, int32_t d[3]);

struct DenseConvResult {
  std::vector<double> y;   // (n_out, C_out) at the active output coordinates
  std::vector<double> gx;  // (n_in, C_in)  at the active input coordinates
  std::vector<double> gw;  // (V, C_in, C_out)
  std::vector<double> gb;  // (C_out,)
};

// Dense convolution on the densified grid:
//   forward (transposed = false): Y[q] = b + sum_k W_k^T X[q + off_k] for every grid point q of the output
//     lattice (multiples of out_stride), X zero off the active input sites; then read at the active outputs.
//   transposed: Y[p] = b + sum_k sum_{q coarse: p = q + off_k} X[q] W_k over the coarse grid.
// gradients from loss = sum(Y_active * G).
DenseConvResult dense_conv(const std::vector<int32_t>& in_coords, const std::vector<double>& x, int c_in,
                           const std::vector<int32_t>& out_coords, const std::vector<double>& w, int c_out,
                           const std::vector<double>& bias, const std::vector<double>& g, int K, int dilation,
                           int32_t in_stride, int32_t out_stride, bool transposed);

// Reference for the strided output set: unique(floor(c / s2) * s2) in order of first occurrence.
std::vector<int32_t> oracle_downsample(const std::vector<int32_t>& coords, int32_t s2);

}  // namespace leseg::testing
