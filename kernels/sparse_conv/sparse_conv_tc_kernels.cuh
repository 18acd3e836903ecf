// SPDX-License-Identifier: Apache-2.0
// The kernels of the grouped and tensor-core sparse-conv dataflows (device code only), included by
// sparse_conv_tc_cuda.cu, which holds the host launchers (and the cuBLAS calls); index math: sparse_conv_tc_math.h.
// Kept apart so that the CPU warp emulator (tests/support/warp_emu.h) compiles the very same kernel bodies and runs
// them against the CPU twin (tests/kernels/sparse_conv/sparse_conv_tc_emulated_test.cpp): the only spellings that
// differ go through kernels/common/device_emu.h (shared memory) and the `#elif defined(LESEG_WARP_EMU)` branches
// of the mma and tf32-conversion wrappers.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/common/device_emu.h"
#include "kernels/common/half_math.h"
#include "kernels/sparse_conv/sparse_conv_tc_math.h"

namespace leseg::kernels {
namespace {

// ---------------------------------------------------------------- element types
// Accumulator type of an element type (f32 for f32 / bf16 / f16, f64 for f64); the cuBLAS type: CudaTy in the .cu.
template <class T> struct Ty;
template <> struct Ty<float> { using Acc = float; };
template <> struct Ty<double> { using Acc = double; };
template <> struct Ty<bf16_t> { using Acc = float; };
template <> struct Ty<f16_t> { using Acc = float; };
template <class T> using AccOf = typename Ty<T>::Acc;
template <class T> constexpr bool kIsHalf = std::is_same_v<T, bf16_t> || std::is_same_v<T, f16_t>;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(bf16_t v) { return bf16_to_float(v); }
__device__ __forceinline__ float to_acc(f16_t v) { return f16_to_float(v); }
template <class T> __device__ __forceinline__ T from_acc(AccOf<T> v);
template <> __device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <> __device__ __forceinline__ double from_acc<double>(double v) { return v; }
template <> __device__ __forceinline__ bf16_t from_acc<bf16_t>(float v) { return float_to_bf16(v); }
template <> __device__ __forceinline__ f16_t from_acc<f16_t>(float v) { return float_to_f16(v); }

constexpr int kMaxSegs = 128;  // >= V (at most one segment per offset in a batch)
constexpr int kBiasRowsPerBlock = 1024;  // rows per block of bias_partial_kernel

// ---------------------------------------------------------------- kernels of the grouped dataflow
struct OffsetTable {  // pair offsets on the kernel's parameter space (V <= 125)
  int64_t off[kMaxSegs];
  int volume;
};
// pos[k * n + idx[p]] = p (the pair of offset k landing on row idx[p]); rows without one stay -1.
__global__ void pair_pos_kernel(const int32_t* __restrict__ idx, int64_t P, int64_t n, OffsetTable t,
                                int32_t* __restrict__ pos) {
  for (int64_t p = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; p < P; p += int64_t(gridDim.x) * blockDim.x) {
    int lo = 0, hi = t.volume - 1;  // the k with off[k] <= p < off[k + 1]
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (t.off[mid] <= p) lo = mid; else hi = mid - 1;
    }
    pos[int64_t(lo) * n + idx[p]] = int32_t(p);
  }
}

// dst row r = src row idx[r] (rows of `units` U-sized words): vectorised row copy.
template <class U>
__global__ void gather_kernel(const U* __restrict__ src, const int32_t* __restrict__ idx, int64_t rows, int64_t units,
                              U* __restrict__ dst) {
  const int64_t total = rows * units;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / units, u = t % units;
    dst[t] = src[int64_t(idx[r]) * units + u];
  }
}

// Output-stationary reduction of one batch: row j, channels [VEC c, VEC c + VEC):
//   a = first ? bias : acc[j];  a += prod[pos[k, j] - p_begin] for k = k_first..k_last with the pair in the batch;
//   last ? out[j] = T(a) : acc[j] = a.    (Offsets in increasing k: the CPU twin's order.)
template <class T, int VEC>
__global__ void reduce_kernel(const AccOf<T>* __restrict__ prod, const int32_t* __restrict__ pos, int64_t n, int64_t C,
                              int32_t k_first, int32_t k_last, int64_t p_begin, int64_t p_end,
                              const T* __restrict__ bias, bool first, bool last, AccOf<T>* acc, T* out) {
  using A = AccOf<T>;
  const int64_t cv = C / VEC, total = n * cv;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = t / cv, c = (t % cv) * VEC;
    A a[VEC];
#pragma unroll
    for (int v = 0; v < VEC; ++v) a[v] = first ? (bias ? A(to_acc(bias[c + v])) : A(0)) : acc[j * C + c + v];
    for (int32_t k = k_first; k <= k_last; ++k) {
      const int64_t p = pos[int64_t(k) * n + j];
      if (p < p_begin || p >= p_end) continue;
      const A* row = prod + (p - p_begin) * C + c;
      if constexpr (VEC == 4) {
        const float4 q = *reinterpret_cast<const float4*>(row);
        a[0] += q.x, a[1] += q.y, a[2] += q.z, a[3] += q.w;
      } else {
#pragma unroll
        for (int v = 0; v < VEC; ++v) a[v] += row[v];
      }
    }
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      if (last) out[j * C + c + v] = from_acc<T>(a[v]);
      else acc[j * C + c + v] = a[v];
    }
  }
}

template <class S, class D>
__global__ void convert_kernel(const S* __restrict__ s, int64_t n, D* __restrict__ d) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n; t += int64_t(gridDim.x) * blockDim.x)
    d[t] = from_acc<D>(s[t]);
}

// Bias gradient, pass 1: block (x: 32 channels, y: 8 row lanes), blockIdx.y = row block; fixed-order sums.
template <class T>
__global__ void bias_partial_kernel(const T* __restrict__ g, int64_t n, int64_t C, AccOf<T>* __restrict__ partial) {
  using A = AccOf<T>;
  LESEG_SHARED A sm[8][33];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * kBiasRowsPerBlock;
  const int64_t r1 = r0 + kBiasRowsPerBlock < n ? r0 + kBiasRowsPerBlock : n;
  A s = 0;
  if (c < C)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += 8) s += A(to_acc(g[r * C + c]));
  sm[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    A t = 0;
    for (int i = 0; i < 8; ++i) t += sm[i][threadIdx.x];
    partial[int64_t(blockIdx.y) * C + c] = t;
  }
}
// pass 2: one thread per channel over the row blocks (grid-strided sums continue across blocks in order).
template <class T>
__global__ void bias_final_kernel(const AccOf<T>* __restrict__ partial, int blocks, int64_t n, int64_t C,
                                  T* __restrict__ gb) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  AccOf<T> t = 0;
  for (int b = 0; b < blocks; ++b) t += partial[int64_t(b) * C + c];
  gb[c] = from_acc<T>(t);
}

struct PtrSeg { int32_t k; int32_t row; };
struct PtrDesc {
  int n;
  PtrSeg s[kMaxSegs];
};
// Pointer arrays of one grouped call: X[i] = base_X + k_i * kstride_X + row_i * rstride_X (bytes).
__global__ void ptr_kernel(PtrDesc d, const char* a, int64_t ak, int64_t ar, const char* b, int64_t bk, int64_t br,
                           char* c, int64_t ck, int64_t cr, const void** A, const void** B, void** Cp) {
  const int i = threadIdx.x;
  if (i >= d.n) return;
  A[i] = a + d.s[i].k * ak + d.s[i].row * ar;
  B[i] = b + d.s[i].k * bk + d.s[i].row * br;
  Cp[i] = c + d.s[i].k * ck + d.s[i].row * cr;
}

// ---------------------------------------------------------------- tensor-core implicit GEMM
__device__ __forceinline__ uint32_t pack2(uint16_t lo, uint16_t hi) { return uint32_t(lo) | (uint32_t(hi) << 16); }
__device__ __forceinline__ uint16_t bits_of(bf16_t v) { return v.bits; }
__device__ __forceinline__ uint16_t bits_of(f16_t v) { return v.bits; }
__device__ __forceinline__ uint32_t to_tf32(float v) {
#if defined(__CUDA_ARCH__)
  uint32_t u;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(v));
  return u;
#elif defined(LESEG_WARP_EMU)
  return warp_emu::cvt_rna_tf32(v);  // the CPU warp emulator's cvt.rna.tf32.f32
#else
  __trap();  // device code only
  return 0u;
#endif
}

template <class T>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, bf16_t>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else if constexpr (std::is_same_v<T, f16_t>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#elif defined(LESEG_WARP_EMU)
  if constexpr (kIsHalf<T>) warp_emu::mma_m16n8k16<T>(d, a, b);  // the CPU warp emulator's PTX-layout mma
  else warp_emu::mma_m16n8k8_tf32(d, a, b);
#else
  __trap();
#endif
}

// A fragment: rows of the warp's 16 (src[0]: row g, src[1]: row g + 8; -1 = no neighbour -> zeros).
template <class T>
__device__ __forceinline__ void load_a(const T* __restrict__ x, const int32_t (&src)[2], int64_t in_ch, int64_t c0,
                                       int lane, uint32_t (&a)[4]) {
  if constexpr (kIsHalf<T>) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int row, col;
      tc::frag_a_k16(lane, 2 * r, row, col);
      const int32_t s = src[row >= 8];
      const int64_t c = c0 + col;
      if (s < 0 || c >= in_ch) { a[r] = 0; continue; }
      const T* p = x + int64_t(s) * in_ch + c;
      if ((in_ch & 1) == 0) a[r] = __ldg(reinterpret_cast<const unsigned int*>(p));  // c even: 4-byte aligned
      else a[r] = pack2(bits_of(p[0]), c + 1 < in_ch ? bits_of(p[1]) : uint16_t(0));
    }
  } else {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      int row, col;
      tc::frag_a_k8(lane, r, row, col);
      const int32_t s = src[row >= 8];
      const int64_t c = c0 + col;
      a[r] = (s >= 0 && c < in_ch) ? to_tf32(__ldg(x + int64_t(s) * in_ch + c)) : 0u;
    }
  }
}
// B fragment of W_k for output columns [nb, nb + 8): B(c, o) = TRANS ? wk[o * in_ch + c] : wk[c * out_ch + o].
template <class T, bool TRANS>
__device__ __forceinline__ T w_at(const T* __restrict__ wk, int64_t in_ch, int64_t out_ch, int64_t c, int64_t o) {
  return TRANS ? wk[o * in_ch + c] : wk[c * out_ch + o];
}
template <class T, bool TRANS>
__device__ __forceinline__ void load_b(const T* __restrict__ wk, int64_t in_ch, int64_t out_ch, int64_t c0, int64_t nb,
                                       int lane, uint32_t (&b)[2]) {
  if constexpr (kIsHalf<T>) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      int kk, n;
      tc::frag_b_k16(lane, 2 * r, kk, n);
      const int64_t c = c0 + kk, o = nb + n;
      uint16_t lo = 0, hi = 0;
      if (o < out_ch) {
        if (c < in_ch) lo = bits_of(w_at<T, TRANS>(wk, in_ch, out_ch, c, o));
        if (c + 1 < in_ch) hi = bits_of(w_at<T, TRANS>(wk, in_ch, out_ch, c + 1, o));
      }
      b[r] = pack2(lo, hi);
    }
  } else {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      int kk, n;
      tc::frag_b_k8(lane, r, kk, n);
      const int64_t c = c0 + kk, o = nb + n;
      b[r] = (o < out_ch && c < in_ch) ? to_tf32(w_at<T, TRANS>(wk, in_ch, out_ch, c, o)) : 0u;
    }
  }
}

// Block: tile blockIdx.x (kTileM reordered rows, warp w rows 16 w .. 16 w + 15), channels blockIdx.y * kTileN + [0, 32)
// as 4 n8 fragments per warp. Loops over the tile's set mask bits; per offset over in_ch in steps of the mma K.
template <class T, bool TRANS>
__global__ void __launch_bounds__(tc::kWarps * 32)
    tc_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
              const int32_t* __restrict__ nbr, const int32_t* __restrict__ order, const uint32_t* __restrict__ masks,
              int words, int64_t n_rows, int64_t in_ch, int64_t out_ch, bool relu, T* __restrict__ y) {
  constexpr int KK = kIsHalf<T> ? tc::kKHalf : tc::kKTf32;
  const int warp = int(threadIdx.x) >> 5, lane = int(threadIdx.x) & 31, g = lane >> 2;
  const int64_t tile = blockIdx.x, n0 = int64_t(blockIdx.y) * tc::kTileN;
  int32_t orow[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int64_t r = tile * tc::kTileM + warp * tc::kWarpM + g + 8 * i;
    orow[i] = r < n_rows ? order[r] : -1;
  }
  float acc[4][4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[j][i] = 0.f;
  for (int wi = 0; wi < words; ++wi) {
    uint32_t bits = masks[tile * words + wi];
    while (bits) {
      const int64_t k = int64_t(wi) * 32 + (__ffs(int(bits)) - 1);
      bits &= bits - 1;
      int32_t src[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) src[i] = orow[i] >= 0 ? nbr[k * n_rows + orow[i]] : -1;
      if (!__any_sync(0xffffffffu, src[0] >= 0 || src[1] >= 0)) continue;  // warp-uniform skip
      const T* wk = w + k * in_ch * out_ch;
      for (int64_t c0 = 0; c0 < in_ch; c0 += KK) {
        uint32_t a[4];
        load_a<T>(x, src, in_ch, c0, lane, a);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          uint32_t b[2];
          load_b<T, TRANS>(wk, in_ch, out_ch, c0, n0 + 8 * j, lane, b);
          mma<T>(acc[j], a, b);
        }
      }
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int row, col;
      tc::frag_c(lane, i, row, col);
      const int32_t o = orow[row >= 8];
      const int64_t cg = n0 + 8 * j + col;
      if (o < 0 || cg >= out_ch) continue;
      float v = acc[j][i] + (bias ? float(to_acc(bias[cg])) : 0.f);
      if (relu) v = fmaxf(v, 0.f);
      y[int64_t(o) * out_ch + cg] = from_acc<T>(v);
    }
}

// ---------------------------------------------------------------- Morton order, tile masks
__global__ void morton_keys_kernel(const int32_t* __restrict__ c, int64_t n, int32_t stride, uint64_t* __restrict__ keys,
                                   int32_t* __restrict__ ids) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    keys[i] = tc::morton_key(c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3], stride);
    ids[i] = int32_t(i);
  }
}
__global__ void tile_masks_kernel(const int32_t* __restrict__ nbr, const int32_t* __restrict__ order, int64_t n_rows,
                                  int64_t volume, int64_t tiles, int words, uint32_t* __restrict__ masks) {
  const int64_t total = tiles * words;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t tile = t / words, wi = t % words;
    uint32_t m = 0;
    for (int b = 0; b < 32; ++b) {
      const int64_t k = wi * 32 + b;
      if (k < volume && tc::tile_uses_offset(nbr, order, n_rows, tile, k)) m |= 1u << b;
    }
    masks[t] = m;
  }
}

}  // namespace
}  // namespace leseg::kernels
