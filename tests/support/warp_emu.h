// SPDX-License-Identifier: Apache-2.0
// A CPU warp emulator for the bodies of the tensor-core kernels (kernels/*/*_kernels.cuh), so that CPU tests run
// the very CUDA source against its CPU twin. One block runs at a time; its threads are fibers (ucontext) on the
// calling thread, switched only at the synchronisation points, which therefore behave as on the device:
//   __syncthreads()                 a barrier of the block's threads
//   __shfl_xor_sync(mask, x, m)     a barrier of the warp around an exchange (full warps only)
//   warp_emu::mma_m16n8k16<T>       mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}: the warp's 32 A/B fragments
//                                   are gathered and the 16 x 8 product is formed from the PTX ISA's fragment
//                                   layouts, written out here independently of the kernels' attention_tc_math.h
//                                   (f32 accumulation in k order; the hardware's internal order may differ by
//                                   rounding); the lower element of a .b32 pair is in bits 0-15.
//   warp_emu::mma_m16n8k8_tf32      mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, likewise (layouts written
//                                   out independently of sparse_conv_tc_math.h; one tf32 per .b32 register, its low
//                                   13 bits ignored, as the tensor core reads only 19 bits)
//   warp_emu::cvt_rna_tf32          cvt.rna.tf32.f32 (nearest, ties away from zero; inf / NaN kept)
//   __any_sync(mask, p)             a barrier of the warp around a vote (full warps only)
//   __ffs, __ldg, float4, uint4     the plain CUDA spellings
// Blocks are 1-D (run_grid) or 2-D (run_grid_2d: threadIdx.x fastest, warps of consecutive linear ids).
// Shared memory is a function-local static per kernel instantiation (kernels/common/device_emu.h). Not modelled:
// warp divergence around the synchronisation points (all lanes must reach them, as the kernels guarantee), memory
// ordering beyond the barriers, timing. Include this before the kernels' .cuh and nothing CUDA.
#pragma once
#define LESEG_WARP_EMU 1

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "kernels/common/half_math.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

namespace warp_emu {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
}  // namespace warp_emu
inline warp_emu::Dim3 threadIdx, blockIdx, blockDim, gridDim;
using std::max;
using std::min;
struct __align__(16) float4 {
  float x, y, z, w;
};
struct __align__(16) uint4 {
  unsigned x, y, z, w;
};
inline int __ffs(int x) { return __builtin_ffs(x); }
template <class T>
T __ldg(const T* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

namespace warp_emu {

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = false;
  unsigned tid = 0;
};
struct State {
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  std::vector<Fiber> fibers;
};
inline State& state() {
  static State s;
  return s;
}
inline void yield() {
  State& s = state();
  swapcontext(&s.current->ctx, &s.scheduler);
}
// Generation barrier over n fibers: the last to arrive releases the others.
struct Barrier {
  int n, count = 0;
  unsigned gen = 0;
  explicit Barrier(int n_) : n(n_) {}
  void wait() {
    const unsigned g = gen;
    if (++count == n) {
      count = 0;
      ++gen;
      return;
    }
    while (gen == g) yield();
  }
};
struct Warp {
  Barrier bar{32};
  uint32_t a[32][4] = {}, b[32][2] = {};
  float f[32] = {};
  int vote[32] = {};
};
struct Block {
  std::vector<Warp> warps;
  Barrier bar;
  explicit Block(unsigned threads) : warps((threads + 31) / 32), bar(int(threads)) {}
};
inline Block*& block() {
  static Block* b = nullptr;
  return b;
}
// The thread's linear id in its block (threadIdx.x for 1-D blocks); warps are 32 consecutive ids.
inline unsigned linear_tid() { return threadIdx.x + threadIdx.y * blockDim.x; }
inline Warp& my_warp() { return block()->warps[linear_tid() / 32]; }

inline void entry() {
  State& s = state();
  (*s.body)();
  s.current->done = true;
}

// Runs `body` (a call of the kernel with its arguments) as block (bx, by) of a grid (gx, gy) with a (bdx, bdy)
// block of threads.
template <class F>
void run_block_2d(unsigned bx, unsigned by, unsigned gx, unsigned gy, unsigned bdx, unsigned bdy, F&& body) {
  const unsigned threads = bdx * bdy;
  if (threads % 32 != 0) throw std::invalid_argument("warp_emu: blocks of whole warps only");
  State& s = state();
  Block blk(threads);
  block() = &blk;
  const std::function<void()> fn = body;
  s.body = &fn;
  if (s.fibers.size() < threads) s.fibers.resize(threads);
  for (unsigned i = 0; i < threads; ++i) {
    Fiber& f = s.fibers[i];
    f.done = false;
    f.tid = i;
    if (f.stack.empty()) f.stack.resize(512 * 1024);
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = &s.scheduler;
    makecontext(&f.ctx, entry, 0);
  }
  blockIdx = {bx, by, 0};
  gridDim = {gx, gy, 1};
  blockDim = {bdx, bdy, 1};
  for (bool any = true; any;) {
    any = false;
    for (unsigned i = 0; i < threads; ++i) {
      Fiber& f = s.fibers[i];
      if (f.done) continue;
      any = true;
      threadIdx = {f.tid % bdx, f.tid / bdx, 0};
      s.current = &f;
      swapcontext(&s.scheduler, &f.ctx);
    }
  }
  block() = nullptr;
}
// Runs `body` as block (bx, by) of a grid (gx, gy) with `threads` threads (a 1-D block).
template <class F>
void run_block(unsigned bx, unsigned by, unsigned gx, unsigned gy, unsigned threads, F&& body) {
  run_block_2d(bx, by, gx, gy, threads, 1, body);
}
// Every block of a (gx, gy) grid, in order.
template <class F>
void run_grid(unsigned gx, unsigned gy, unsigned threads, F&& body) {
  for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx) run_block(bx, by, gx, gy, threads, body);
}
// Every block of a (gx, gy) grid of (bdx, bdy) blocks, in order.
template <class F>
void run_grid_2d(unsigned gx, unsigned gy, unsigned bdx, unsigned bdy, F&& body) {
  for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx) run_block_2d(bx, by, gx, gy, bdx, bdy, body);
}
// A kernel without block-level synchronisation (no barrier, shuffle or mma): its threads one after another.
template <class F>
void run_grid_simple(unsigned gx, unsigned threads, F&& body) {
  gridDim = {gx, 1, 1};
  blockDim = {threads, 1, 1};
  for (unsigned bx = 0; bx < gx; ++bx)
    for (unsigned t = 0; t < threads; ++t) {
      blockIdx = {bx, 0, 0};
      threadIdx = {t, 0, 0};
      body();
    }
}

// An mma's first half for one lane: its A and B registers into the warp's table, then a warp barrier, after which
// every lane reads any lane's fragments. Returns the lane.
inline int publish_fragments(Warp& w, const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const int lane = int(linear_tid() % 32);
  for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i];
  for (int i = 0; i < 2; ++i) w.b[lane][i] = b[i];
  w.bar.wait();
  return lane;
}

template <class T>
float half_value(uint16_t bits) {
  if constexpr (std::is_same_v<T, leseg::bf16_t>) return leseg::bf16_to_float(leseg::bf16_t{bits});
  else return leseg::f16_to_float(leseg::f16_t{bits});
}

// mma.sync.aligned.m16n8k16.row.col.f32.T.T.f32, D = A B + C for the whole warp. PTX ISA layouts (g = lane / 4,
// t = lane % 4): A (16 x 16) a0..a3 = (g, 2t..2t+1), (g + 8, 2t..), (g, 2t + 8..), (g + 8, 2t + 8..);
// B (16 x 8) b0, b1 = (k = 2t..2t+1, n = g), (k = 2t + 8.., n = g); C/D c0, c1 = (g, 2t..), c2, c3 = (g + 8, 2t..).
template <class T>
void mma_m16n8k16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  Warp& w = my_warp();
  const int lane = publish_fragments(w, a, b);
  const int g = lane >> 2, t = lane & 3;
  for (int ci = 0; ci < 4; ++ci) {
    const int row = ci < 2 ? g : g + 8, col = 2 * t + (ci & 1);
    float acc = d[ci];
    for (int k = 0; k < 16; ++k) {
      const int la = (row % 8) * 4 + (k % 8) / 2, ra = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
      const uint32_t ar = w.a[la][ra];
      const float av = half_value<T>((k & 1) ? uint16_t(ar >> 16) : uint16_t(ar & 0xffffu));
      const int lb = col * 4 + (k % 8) / 2, rb = k >= 8 ? 1 : 0;
      const uint32_t br = w.b[lb][rb];
      const float bv = half_value<T>((k & 1) ? uint16_t(br >> 16) : uint16_t(br & 0xffffu));
      acc += av * bv;
    }
    d[ci] = acc;
  }
  w.bar.wait();  // every lane has read the warp's fragments before any lane writes the next ones
}

// cvt.rna.tf32.f32: f32 -> tf32 (1 sign, 8 exponent, 10 mantissa bits) in a .b32 with the 13 low bits zero, rounded
// to nearest with ties away from zero; inf and NaN are kept.
inline uint32_t cvt_rna_tf32(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if (((u >> 23) & 0xffu) == 0xffu) return u;
  const uint32_t dropped = u & 0x1fffu, kept = u & ~uint32_t(0x1fff);
  // magnitude up by one tf32 ulp when the dropped part is at least half of it (a carry into the exponent is right:
  // the next binade, or inf past the largest finite value)
  return dropped >= 0x1000u ? kept + 0x2000u : kept;
}
// The value a tf32 tensor core reads from a .b32 register: its 19 high bits.
inline float tf32_value(uint32_t r) {
  const uint32_t u = r & 0xffffe000u;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, D = A B + C for the whole warp, one tf32 per register. PTX
// ISA layouts (g = lane / 4, t = lane % 4): A (16 x 8) a0 = (g, t), a1 = (g + 8, t), a2 = (g, t + 4),
// a3 = (g + 8, t + 4); B (8 x 8) b0 = (k = t, n = g), b1 = (k = t + 4, n = g); C/D as for m16n8k16:
// c0, c1 = (g, 2t..2t+1), c2, c3 = (g + 8, 2t..). f32 accumulation in k order (the products of two tf32 are exact).
inline void mma_m16n8k8_tf32(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  Warp& w = my_warp();
  const int lane = publish_fragments(w, a, b);
  const int g = lane >> 2, t = lane & 3;
  for (int ci = 0; ci < 4; ++ci) {
    const int row = ci < 2 ? g : g + 8, col = 2 * t + (ci & 1);
    float acc = d[ci];
    for (int k = 0; k < 8; ++k) {
      const float av = tf32_value(w.a[(row % 8) * 4 + k % 4][(row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0)]);
      const float bv = tf32_value(w.b[col * 4 + k % 4][k >= 4 ? 1 : 0]);
      acc += av * bv;
    }
    d[ci] = acc;
  }
  w.bar.wait();
}

}  // namespace warp_emu

inline void __syncthreads() { warp_emu::block()->bar.wait(); }
inline float __shfl_xor_sync(unsigned, float x, int m) {
  warp_emu::Warp& w = warp_emu::my_warp();
  const int lane = int(warp_emu::linear_tid() % 32);
  w.f[lane] = x;
  w.bar.wait();
  const float r = w.f[lane ^ m];
  w.bar.wait();
  return r;
}
inline int __any_sync(unsigned, int pred) {
  warp_emu::Warp& w = warp_emu::my_warp();
  const int lane = int(warp_emu::linear_tid() % 32);
  w.vote[lane] = pred != 0;
  w.bar.wait();
  int any = 0;
  for (int l = 0; l < 32; ++l) any |= w.vote[l];
  w.bar.wait();
  return any;
}
