// SPDX-License-Identifier: Apache-2.0
// Shared (__host__ __device__) index math of the tensor-core and grouped sparse-conv dataflows
// (kernels/sparse_conv/sparse_conv_tc_cuda.cu); the CPU tests (tests/kernels/sparse_conv) check all of it, including
// a CPU emulation of the tensor-core tile loop that must reproduce the CPU conv.
//
// 1. Reordering: output (and, for the input gradient, input) rows are visited in Morton (Z-curve) order of their
//    coordinates, so the 64 rows of one tile are spatial neighbours and share most kernel offsets. key =
//    (batch & 0xffff) << 48 | interleave3(x / s, y / s, z / s) (16 low bits per axis, x lowest); ties (never for a
//    unique set at one stride unless an axis exceeds 2^16 cells, where the key wraps) keep row order: a stable sort.
// 2. Tile schedule: tile t owns the reordered rows [t * kTileM, (t + 1) * kTileM); a block computes one tile times
//    kTileN output channels with 4 warps, warp w owning the 16 rows [16 w, 16 w + 16) of the tile.
// 3. Mask split: per tile a bitmask over the V kernel offsets (ceil(V / 32) words), bit k set iff some row of the
//    tile has a neighbour at offset k. The tile loop runs only over set bits (TorchSparse++ / Minuet: tiles skip
//    the offsets none of their rows use); inside a set offset a warp whose 16 rows all miss skips it too.
// 4. Fragment maps of mma.sync.aligned.m16n8k16 (bf16/f16) and m16n8k8 (tf32), row.col, f32 accumulate: which
//    element of A (16 x K), B (K x 8) and C (16 x 8) register i of lane l holds (PTX ISA, "Matrix fragments for
//    mma.m16n8k16 / mma.m16n8k8"). g = l / 4 (group), t = l % 4 (thread in group).
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels::tc {

constexpr int kTileM = 64;       // reordered rows per tile (block)
constexpr int kTileN = 32;       // output channels per block: each warp 4 n8 fragments
constexpr int kWarps = 4;        // warps per block, each 16 rows
constexpr int kWarpM = 16;
constexpr int kFragN = 8;
constexpr int kKHalf = 16;       // K of the bf16/f16 mma
constexpr int kKTf32 = 8;        // K of the tf32 mma

LESEG_HD int64_t num_tiles(int64_t n_rows) { return (n_rows + kTileM - 1) / kTileM; }
LESEG_HD int mask_words(int64_t volume) { return int((volume + 31) / 32); }

// ---------------------------------------------------------------- Morton keys
LESEG_HD uint64_t spread3_16(uint32_t v) {  // bit i of v -> bit 3 i
  uint64_t x = v & 0xffffu;
  x = (x | (x << 16)) & 0x0000ff0000ffull;
  x = (x | (x << 8)) & 0x00f00f00f00full;
  x = (x | (x << 4)) & 0x0c30c30c30c3ull;
  x = (x | (x << 2)) & 0x249249249249ull;
  return x;
}
LESEG_HD uint64_t morton_key(int32_t b, int32_t x, int32_t y, int32_t z, int32_t stride) {
  // floor division by the tensor stride (coordinates are multiples of it), then the low 16 bits (two's complement
  // keeps neighbours adjacent across 0 except at the wrap)
  auto cell = [stride](int32_t c) -> uint32_t {
    const int32_t q = c >= 0 ? c / stride : -((-c + stride - 1) / stride);
    return uint32_t(q) & 0xffffu;
  };
  return (uint64_t(uint32_t(b) & 0xffffu) << 48) | spread3_16(cell(x)) | (spread3_16(cell(y)) << 1) |
         (spread3_16(cell(z)) << 2);
}

// ---------------------------------------------------------------- mask split
// Bit k of tile t: some reordered row r in the tile has nbr[k * n_rows + order[r]] >= 0.
LESEG_HD bool tile_uses_offset(const int32_t* nbr, const int32_t* order, int64_t n_rows, int64_t tile, int64_t k) {
  const int64_t r0 = tile * kTileM, r1 = r0 + kTileM < n_rows ? r0 + kTileM : n_rows;
  for (int64_t r = r0; r < r1; ++r)
    if (nbr[k * n_rows + order[r]] >= 0) return true;
  return false;
}
LESEG_HD bool mask_bit(const uint32_t* masks, int words, int64_t tile, int64_t k) {
  return (masks[tile * words + k / 32] >> (k % 32)) & 1u;
}

// ---------------------------------------------------------------- mma fragment maps
// m16n8k16, A row-major 16 x 16, 8 halves per lane in 4 registers (a0a1, a2a3, a4a5, a6a7).
LESEG_HD void frag_a_k16(int lane, int i, int& row, int& col) {
  const int g = lane >> 2, t = lane & 3;
  row = g + ((i >> 1) & 1) * 8;
  col = t * 2 + (i & 1) + (i >> 2) * 8;
}
// m16n8k16, B "col" 16 x 8, 4 halves per lane in 2 registers (b0b1, b2b3).
LESEG_HD void frag_b_k16(int lane, int i, int& k, int& n) {
  const int g = lane >> 2, t = lane & 3;
  k = t * 2 + (i & 1) + (i >> 1) * 8;
  n = g;
}
// m16n8k8 tf32, A 16 x 8, 4 floats per lane.
LESEG_HD void frag_a_k8(int lane, int i, int& row, int& col) {
  const int g = lane >> 2, t = lane & 3;
  row = g + (i & 1) * 8;
  col = t + (i >> 1) * 4;
}
// m16n8k8 tf32, B 8 x 8, 2 floats per lane.
LESEG_HD void frag_b_k8(int lane, int i, int& k, int& n) {
  const int g = lane >> 2, t = lane & 3;
  k = t + i * 4;
  n = g;
}
// C/D 16 x 8 f32 (both shapes), 4 floats per lane.
LESEG_HD void frag_c(int lane, int i, int& row, int& col) {
  const int g = lane >> 2, t = lane & 3;
  row = g + (i >> 1) * 8;
  col = t * 2 + (i & 1);
}

// ---------------------------------------------------------------- grouped dataflow: segments
// The grouped gather-GEMM-scatter splits the pairs of each offset into segments of at most `budget` rows and packs
// consecutive segments into batches of at most `budget` rows; a batch holds at most one segment per offset, so
// the grouped GEMM of a batch writes each gW_k at most once (race-free, no split-K atomics).
struct Segment {
  int64_t k, begin, end;  // pairs [begin, end) of offset k
};
// Returns the number of segments written (segs may be null to count); batch_of[s] = batch index of segment s.
inline int64_t plan_segments(const int64_t* offsets, int64_t volume, int64_t budget, Segment* segs, int64_t* batch_of) {
  int64_t n = 0, batch = 0, rows_in_batch = 0;
  for (int64_t k = 0; k < volume; ++k)
    for (int64_t b = offsets[k]; b < offsets[k + 1]; b += budget) {
      const int64_t e = b + budget < offsets[k + 1] ? b + budget : offsets[k + 1];
      if (rows_in_batch > 0 && rows_in_batch + (e - b) > budget) ++batch, rows_in_batch = 0;
      if (segs) segs[n] = Segment{k, b, e};
      if (batch_of) batch_of[n] = batch;
      rows_in_batch += e - b;
      ++n;
    }
  return n;
}

}  // namespace leseg::kernels::tc
