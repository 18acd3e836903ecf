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
// Shared memory is a function-local static per kernel instantiation (kernels/common/device_emu.h). Not modelled:
// warp divergence around the synchronisation points (all lanes must reach them, as the kernels guarantee), memory
// ordering beyond the barriers, timing. Include this before the kernels' .cuh and nothing CUDA.
#pragma once
#define LESEG_WARP_EMU 1

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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
inline Warp& my_warp() { return block()->warps[threadIdx.x / 32]; }

inline void entry() {
  State& s = state();
  (*s.body)();
  s.current->done = true;
}

// Runs `body` (a call of the kernel with its arguments) as block (bx, by) of a grid (gx, gy) with `threads` threads.
template <class F>
void run_block(unsigned bx, unsigned by, unsigned gx, unsigned gy, unsigned threads, F&& body) {
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
  blockDim = {threads, 1, 1};
  for (bool any = true; any;) {
    any = false;
    for (unsigned i = 0; i < threads; ++i) {
      Fiber& f = s.fibers[i];
      if (f.done) continue;
      any = true;
      threadIdx = {f.tid, 0, 0};
      s.current = &f;
      swapcontext(&s.scheduler, &f.ctx);
    }
  }
  block() = nullptr;
}
// Every block of a (gx, gy) grid, in order.
template <class F>
void run_grid(unsigned gx, unsigned gy, unsigned threads, F&& body) {
  for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx) run_block(bx, by, gx, gy, threads, body);
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
  const int lane = int(threadIdx.x % 32);
  for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i];
  for (int i = 0; i < 2; ++i) w.b[lane][i] = b[i];
  w.bar.wait();
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

}  // namespace warp_emu

inline void __syncthreads() { warp_emu::block()->bar.wait(); }
inline float __shfl_xor_sync(unsigned, float x, int m) {
  warp_emu::Warp& w = warp_emu::my_warp();
  const int lane = int(threadIdx.x % 32);
  w.f[lane] = x;
  w.bar.wait();
  const float r = w.f[lane ^ m];
  w.bar.wait();
  return r;
}
