// SPDX-License-Identifier: Apache-2.0
// The CPU side of engine/allocator.h: a caching allocator (engine/allocator.cpp). A block freed when its Storage
// is released goes to a free list, not to the system; the next request takes the smallest cached block that fits
// and is at most twice its size (from 1 MiB: at most an eighth larger). Block sizes: below 1 MiB a multiple of
// 64 B, from 1 MiB a multiple of 64 KiB (page aligned, advised for transparent huge pages). Bounded: when a
// request misses, cached blocks (largest first) go back to the system until what the process holds stays within
// 64 MiB of its peak in use, so reserved memory tracks the peak rather than piling up blocks of sizes not asked for
// again (the peak here is the high-water mark since the start or the last empty_cache, which reset_peak_memory
// leaves alone: resetting a statistic must not send the cache back to the system; LESEG_CPU_CACHE_SLACK_MB sets the 64:
// a MinkUNet14A step at 100k voxels takes ~1.5 GB of fresh pages from the system with 64, and runs 6-9% faster with
// 1024, for a resident set 17% higher, docs/cpu-performance.md); at most LESEG_CPU_CACHE_MAX_MB (default 4096) cached; a failed system allocation returns the cache and
// retries; empty_cache(Device::cpu()) returns it. LESEG_CPU_CACHE=0 (read at the first allocation) turns caching
// off: every block from and back to the system. memory_stats(cpu): in_use, reserved (in use + cached), peak,
// num_allocs, num_system_allocs (cache misses). (allocator.h's comment on empty_cache predates this: on CPU it now
// returns the cached blocks.)
#pragma once
#include <cstddef>

namespace leseg {

size_t cpu_size_class(size_t nbytes);
// Whether the cache is on (LESEG_CPU_CACHE) and the bytes it holds now (cached, unused).
bool cpu_cache_enabled();
size_t cpu_cached_bytes();

}  // namespace leseg
