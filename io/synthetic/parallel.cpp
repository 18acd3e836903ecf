// SPDX-License-Identifier: Apache-2.0
#include "io/synthetic/parallel.h"

#include "io/synthetic/generator.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace leseg::io::synth {

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return std::max(1, int(std::thread::hardware_concurrency()));
}

void parallel_for_scenes(int64_t count, int threads, const std::function<void(int64_t)>& job) {
  if (count <= 0) return;
  const int T = resolve_threads(threads);
  const int workers = int(std::min<int64_t>(T, count));
  if (workers <= 1) {
    for (int64_t i = 0; i < count; ++i) job(i);
    return;
  }
  const int inner = std::max(1, T / workers);
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  auto work = [&] {
    omp_set_num_threads(inner);
    for (;;) {
      if (failed.load()) return;
      const int64_t i = next.fetch_add(1);
      if (i >= count) return;
      try {
        job(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
        failed.store(true);
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(size_t(workers));
  try {
    for (int w = 0; w < workers; ++w) pool.emplace_back(work);
  } catch (...) {  // thread creation failed: stop the started workers, then report
    failed.store(true);
    for (std::thread& t : pool) t.join();
    throw;
  }
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

std::vector<Scene> generate_indoor_scenes(const std::vector<uint64_t>& seeds, const Tensor& text_embeddings,
                                          const IndoorOptions& opt, int threads) {
  std::vector<Scene> out(seeds.size());
  parallel_for_scenes(int64_t(seeds.size()), threads,
                      [&](int64_t i) { out[size_t(i)] = generate_indoor_scene(seeds[size_t(i)], text_embeddings, opt); });
  return out;
}

std::vector<Scene> generate_outdoor_scenes(const std::vector<uint64_t>& seeds, const Tensor& text_embeddings,
                                           const OutdoorOptions& opt, int threads) {
  std::vector<Scene> out(seeds.size());
  parallel_for_scenes(int64_t(seeds.size()), threads,
                      [&](int64_t i) { out[size_t(i)] = generate_outdoor_scene(seeds[size_t(i)], text_embeddings, opt); });
  return out;
}

}  // namespace leseg::io::synth
