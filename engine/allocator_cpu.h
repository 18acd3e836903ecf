// SPDX-License-Identifier: Apache-2.0
// The CPU side of engine/allocator.h: a caching allocator (engine/allocator.cpp). A block freed when its Storage
// is released goes to a cache, not to the system.
// - Small blocks (below 1 MiB, multiples of 64 B): a free list by size; a request takes the smallest cached block
//   that fits and is at most twice its size.
// - Large blocks (from 1 MiB, multiples of 64 KiB) are pieces of segments: system allocations rounded up to 2 MiB,
//   huge-page aligned and advised for transparent huge pages. A request takes the smallest free piece that fits
//   (best fit) and splits off what is left when that is at least 1 MiB; a freed piece merges with free neighbours
//   of its segment. So a step whose forward and backward ask for different sizes reuses the same pages: a
//   MinkUNet14A step at 100k voxels took ~90 fresh large blocks (~1.5 GB of page faults) from the system with whole
//   blocks, and a few from the third step on with pieces (docs/cpu-performance.md). LESEG_CPU_CACHE_SPLIT=0 (read
//   at the first allocation) restores whole blocks: a cached block serves a request at most 1/8 smaller.
// Bounded: when a request misses, whole free segments (largest first; for a small request then small blocks) go
// back to the system until what the process holds stays within 64 MiB of its peak in use, so reserved memory tracks
// the peak rather than piling up blocks of sizes not asked for again (the peak here is the high-water mark since
// the start or the last empty_cache, which reset_peak_memory leaves alone: resetting a statistic must not send the
// cache back to the system; LESEG_CPU_CACHE_SLACK_MB sets the 64); LESEG_CPU_CACHE_MAX_MB caps the cached bytes (default: no cap beyond
// that policy; a 4 GiB cap cost a 1M-voxel step 30% in page faults); a failed system allocation returns the cache and retries; empty_cache(Device::cpu()) returns every small
// block and every whole free segment (a free piece of a segment that still has a piece in use stays cached until
// its segment is whole). LESEG_CPU_CACHE=0 (read at the first allocation) turns caching off: every block from and
// back to the system. memory_stats(cpu): in_use, reserved (in use + cached), peak, num_allocs, num_system_allocs
// (cache misses: new segments and new small blocks). (allocator.h's comment on empty_cache predates this: on CPU
// it returns the cached blocks.)
#pragma once
#include <cstddef>

namespace leseg {

size_t cpu_size_class(size_t nbytes);
// Whether the cache is on (LESEG_CPU_CACHE) and the bytes it holds now (cached, unused).
bool cpu_cache_enabled();
size_t cpu_cached_bytes();

}  // namespace leseg
