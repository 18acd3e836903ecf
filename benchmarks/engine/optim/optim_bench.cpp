// SPDX-License-Identifier: Apache-2.0
// Optimizer step throughput: SGD (momentum) and AdamW over one f32 parameter of n elements.
// Bytes per element: SGD reads p, g, buf and writes p, buf (5 x 4 B); AdamW reads p, g, m, v and writes p, m, v (7 x 4 B).
#include <benchmark/benchmark.h>

#include "engine/optim/adam.h"
#include "engine/optim/sgd.h"

using namespace leseg;

namespace {
template <class Opt>
void run(benchmark::State& st, Device d, int bytes_per_elem) {
  const int64_t n = st.range(0);
  Tensor p = Tensor::randn(Shape{n}, 1, 0, DType::f32, d);
  p.requires_grad_(true);
  p.set_grad(Tensor::randn(Shape{n}, 2, 0, DType::f32, d));
  ParamGroup h;
  h.lr = 1e-3;
  h.momentum = 0.9;
  h.weight_decay = 1e-2;
  Opt opt({p}, h);
  for (auto _ : st) {
    opt.step();
    if (d.is_cuda()) synchronize(d);
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * n * bytes_per_elem);
}
void BM_SgdStep_cpu(benchmark::State& st) { run<SGD>(st, Device::cpu(), 20); }
void BM_AdamWStep_cpu(benchmark::State& st) { run<AdamW>(st, Device::cpu(), 28); }
void BM_SgdStep_cuda(benchmark::State& st) { run<SGD>(st, Device::cuda(), 20); }
void BM_AdamWStep_cuda(benchmark::State& st) { run<AdamW>(st, Device::cuda(), 28); }

int register_all() {
  for (int64_t n : {int64_t(1) << 16, int64_t(1) << 20, int64_t(1) << 23}) {
    benchmark::RegisterBenchmark("SgdStep/cpu", BM_SgdStep_cpu)->Arg(n);
    benchmark::RegisterBenchmark("AdamWStep/cpu", BM_AdamWStep_cpu)->Arg(n);
    if (cuda_available()) {
      benchmark::RegisterBenchmark("SgdStep/cuda", BM_SgdStep_cuda)->Arg(n)->UseRealTime();
      benchmark::RegisterBenchmark("AdamWStep/cuda", BM_AdamWStep_cuda)->Arg(n)->UseRealTime();
    }
  }
  return 0;
}
const int registered = register_all();
}  // namespace
