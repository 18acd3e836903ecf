// SPDX-License-Identifier: Apache-2.0
// Index math and the summation step of the deterministic point_scatter (point_scatter_sorted.h), shared by the CUDA
// kernels and their CPU test. The scatter's entries are e = i·corners + c (point i, corner c) with target voxel
// j = idx[e]. Sorting the entries by key j with a STABLE sort keeps every voxel's run in increasing e, i.e. in
// increasing (i, c): exactly the order in which point_scatter_cpu (the spec) adds them into gx[j]. Summing a run
// in that order with the twin's expression acc = acc + w·g, rounded after the product and after the sum (no fused
// multiply-add on either side), gives the twin's bits.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/common/lowp_acc.h"
#include "kernels/segment/segment_sorted_math.h"

namespace leseg::kernels::scatter_sorted {

// Sort key of entry idx value j for m voxels: j itself, or m ("skipped": j < 0, the absent corner, or j >= m)
// which sorts after every voxel's run.
LESEG_HD uint32_t key(int32_t j, int64_t m) { return j >= 0 && int64_t(j) < m ? uint32_t(j) : uint32_t(m); }

// First p in [0, n) with keys[p] >= v (n when none): the start of voxel v's run (v = m: the end of the valid ones).
// The same search and bit count as the sorted segment reduction's (kernels/segment/segment_sorted_math.h).
LESEG_HD int64_t lower_bound(const uint32_t* keys, int64_t n, uint32_t v) { return sorted_lower_bound(keys, n, v); }

// Bits the radix sort needs for keys in [0, m].
LESEG_HD int key_bits(int64_t m) { return segment_sort_bits(m, 32); }

// One term of a run: acc + w·g with the product and the sum each rounded: the CPU twin's `d[ch] += wc * gr[ch]`
// as the default build compiles it (x86-64 baseline: no FMA instruction, so nothing to contract into; a
// LESEG_NATIVE build on an FMA host may contract the twin, and then parity holds to rounding only). nvcc would
// contract a plain expression into an fma, so the device side uses the round-to-nearest intrinsics, which are
// never contracted.
LESEG_HD float add_term(float acc, float w, float g) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(acc, __fmul_rn(w, g));
#else
  return acc + w * g;
#endif
}
LESEG_HD double add_term(double acc, double w, double g) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(acc, __dmul_rn(w, g));
#else
  return acc + w * g;
#endif
}

// One output element (voxel j, channel ch) of the sorted scatter: the run pos[b..e) of sorted entries (each an entry
// index i·corners + c) summed in order. f32/f64 features with weights of their own dtype (w null: 1).
template <class T>
LESEG_HD T run_sum(const int32_t* pos, int64_t b, int64_t e, const T* g, const T* w, int corners, int64_t C,
                   int64_t ch) {
  T acc = T(0);
  for (int64_t p = b; p < e; ++p) {
    const int64_t en = pos[p];
    acc = add_term(acc, w ? w[en] : T(1), g[(en / corners) * C + ch]);
  }
  return acc;
}

// The same for half features (f16/bf16) with f32 weights: f32 accumulation of the rounded products, one rounding at
// the store: point_scatter_lowp_cpu's order and expression (p = w·g rounded to f32, then acc + p), so its bits.
template <class T>
LESEG_HD T run_sum_lowp(const int32_t* pos, int64_t b, int64_t e, const T* g, const float* w, int corners, int64_t C,
                        int64_t ch) {
  float acc = 0.f;
  for (int64_t p = b; p < e; ++p) {
    const int64_t en = pos[p];
    acc = add_term(acc, w ? w[en] : 1.f, load_acc(g[(en / corners) * C + ch]));
  }
  return store_acc<T>(acc);
}

}  // namespace leseg::kernels::scatter_sorted
