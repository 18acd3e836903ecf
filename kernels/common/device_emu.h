// SPDX-License-Identifier: Apache-2.0
// The few spellings in which a kernel body differs between nvcc and the CPU warp emulator (tests/support/
// warp_emu.h, which defines LESEG_WARP_EMU and runs one block at a time, its threads as fibers):
//   LESEG_SHARED                         __shared__ (emulator: a function-local static, one per instantiation,
//                                        which is what block-shared memory is when blocks run one after another)
//   LESEG_DYN_SHARED(decl, name, count)  extern __shared__ decl name[] (emulator: a static array of `count`, the
//                                        size the launcher requests)
// and, in the kernel's own mma wrapper, `#elif defined(LESEG_WARP_EMU)` calling warp_emu::mma_m16n8k16.
#pragma once

#ifdef LESEG_WARP_EMU
#define LESEG_SHARED static
#define LESEG_DYN_SHARED(decl, name, count) static decl name[count]
#else
#define LESEG_SHARED __shared__
#define LESEG_DYN_SHARED(decl, name, count) extern __shared__ decl name[]
#endif
