// SPDX-License-Identifier: Apache-2.0
// Scene-level parallelism for the synthetic generators: scenes are independent per seed, so a batch runs
// on a small pool of std::threads pulling scene indices from an atomic counter. Each scene is computed by
// exactly one worker with the same code as the serial path, so its bytes do not depend on the thread
// count (the inner OpenMP loops of render / kNN are race-free per pixel / per point, no reductions).
// Oversubscription: with W workers out of T threads each worker's OpenMP loops get max(1, T / W) threads
// (omp_set_num_threads is per calling thread), so W * inner <= T. With T == 1 or a single job everything
// runs on the calling thread and its OpenMP settings are left alone.
// The first exception thrown by a job stops the hand-out of further indices and is rethrown by the caller.
#pragma once
#include <cstdint>
#include <functional>

namespace leseg::io::synth {

// threads <= 0 -> std::thread::hardware_concurrency() (at least 1).
int resolve_threads(int threads);

// Calls job(i) once for every i in [0, count), on up to `threads` worker threads (see above).
void parallel_for_scenes(int64_t count, int threads, const std::function<void(int64_t)>& job);

}  // namespace leseg::io::synth
