// SPDX-License-Identifier: Apache-2.0
// Fused attention (kernels/attention) vs the unfused composition S = scale Q K^T -> softmax -> P V (Eigen
// f32 GEMMs per (sequence, head), materialising S), forward and backward, at the sizes:
// 8 scenes x 1024 points and 1 x 8192 points, 8 heads, head dim 64.
// FLOP/s counts nominal work: forward 4 * sum_b(Lq Lk) * D * H, backward 2.5x that (the fused backward
// recomputes P twice, once per pass, which is not counted). CUDA variants only with a device.
// `_f16` / `_bf16` rows: the same problem stored in half precision (CPU: same f32 tiles after conversion).
// `cuda_tc_*` rows: the tensor-core variant (mma.sync, sm_80+); the peer comparison with PyTorch SDPA is in the
// baseline harness (attention/sdpa/* rows).
#include <benchmark/benchmark.h>

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/attention/attention.h"
#include "kernels/attention/attention_tc_math.h"

namespace {

using leseg::kernels::AttentionDims;
using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::Map<RowMatF, 0, Eigen::OuterStride<>>;
using CStrided = Eigen::Map<const RowMatF, 0, Eigen::OuterStride<>>;

constexpr int64_t kHeads = 8, kDim = 64;

struct Problem {
  AttentionDims d;
  std::vector<int64_t> cu;
  std::vector<float> q, k, v, o, lse, dout, dq, dk, dv;
  std::vector<uint8_t> ws;
  double fwd_flops = 0;
};

Problem make(int64_t batch, int64_t len) {
  Problem p;
  for (int64_t b = 0; b <= batch; ++b) p.cu.push_back(b * len);
  const int64_t T = batch * len, n = T * kHeads * kDim;
  p.d = AttentionDims{batch, kHeads, kDim, T, T, len, len, 1.0 / std::sqrt(double(kDim))};
  leseg::Tensor r = leseg::Tensor::randn(leseg::Shape{4, n}, 1);
  const float* rp = r.data<float>();
  p.q.assign(rp, rp + n);
  p.k.assign(rp + n, rp + 2 * n);
  p.v.assign(rp + 2 * n, rp + 3 * n);
  p.dout.assign(rp + 3 * n, rp + 4 * n);
  p.o.resize(size_t(n));
  p.dq.resize(size_t(n));
  p.dk.resize(size_t(n));
  p.dv.resize(size_t(n));
  p.lse.resize(size_t(T * kHeads));
  p.ws.resize(size_t(leseg::kernels::attention_backward_workspace_bytes<float>(p.d)));
  p.fwd_flops = 4.0 * double(batch) * double(len) * double(len) * kDim * kHeads;
  return p;
}

template <class H>
struct HalfProblem {
  Problem f;  // shapes, offsets, flops and the f32 values
  std::vector<H> q, k, v, o, dout, dq, dk, dv;
  std::vector<float> lse;
};
template <class H>
std::vector<H> to_half(const std::vector<float>& x) {
  std::vector<H> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = leseg::Convert<H, float>::apply(x[i]);
  return r;
}
template <class H>
HalfProblem<H> make_half(int64_t batch, int64_t len) {
  HalfProblem<H> p;
  p.f = make(batch, len);
  p.q = to_half<H>(p.f.q);
  p.k = to_half<H>(p.f.k);
  p.v = to_half<H>(p.f.v);
  p.dout = to_half<H>(p.f.dout);
  p.o.resize(p.q.size());
  p.dq.resize(p.q.size());
  p.dk.resize(p.q.size());
  p.dv.resize(p.q.size());
  p.lse.resize(p.f.lse.size());
  return p;
}
template <class H>
void fused_forward_half(HalfProblem<H>& p) {
  leseg::kernels::attention_forward_cpu<H, int64_t>(p.q.data(), p.k.data(), p.v.data(), p.f.cu.data(), p.f.cu.data(),
                                                    nullptr, nullptr, p.f.d, p.o.data(), p.lse.data());
}

void fused_forward(Problem& p) {
  leseg::kernels::attention_forward_cpu<float, int64_t>(p.q.data(), p.k.data(), p.v.data(), p.cu.data(), p.cu.data(),
                                                        nullptr, nullptr, p.d, p.o.data(), p.lse.data());
}
void fused_backward(Problem& p) {
  leseg::kernels::attention_backward_cpu<float, int64_t>(p.q.data(), p.k.data(), p.v.data(), p.cu.data(), p.cu.data(),
                                                         nullptr, nullptr, p.o.data(), p.lse.data(), p.dout.data(),
                                                         p.d, p.dq.data(), p.dk.data(), p.dv.data(), nullptr,
                                                         p.ws.data());
}

// Rows [begin, begin + n) of head h of x (rows, H, D) as an (n, D) strided matrix.
CStrided head_rows(const std::vector<float>& x, int64_t begin, int64_t n, int64_t h) {
  return CStrided(x.data() + (begin * kHeads + h) * kDim, n, kDim, Eigen::OuterStride<>(kHeads * kDim));
}
Strided head_rows(std::vector<float>& x, int64_t begin, int64_t n, int64_t h) {
  return Strided(x.data() + (begin * kHeads + h) * kDim, n, kDim, Eigen::OuterStride<>(kHeads * kDim));
}

// P = softmax(scale Q K^T) for one (sequence, head), materialised.
void unfused_probs(const Problem& p, int64_t b, int64_t h, RowMatF& P) {
  const int64_t s = p.cu[b], n = p.cu[b + 1] - s;
  P.noalias() = head_rows(p.q, s, n, h) * head_rows(p.k, s, n, h).transpose();
  P *= float(p.d.scale);
  for (int64_t i = 0; i < n; ++i) {
    auto row = P.row(i);
    row = (row.array() - row.maxCoeff()).exp();
    row /= row.sum();
  }
}

void unfused_forward(Problem& p, RowMatF& P) {
  for (int64_t b = 0; b < p.d.batch; ++b)
    for (int64_t h = 0; h < kHeads; ++h) {
      const int64_t s = p.cu[b], n = p.cu[b + 1] - s;
      unfused_probs(p, b, h, P);
      head_rows(p.o, s, n, h).noalias() = P * head_rows(p.v, s, n, h);
    }
}

void unfused_backward(Problem& p, RowMatF& P, RowMatF& dP) {
  for (int64_t b = 0; b < p.d.batch; ++b)
    for (int64_t h = 0; h < kHeads; ++h) {
      const int64_t s = p.cu[b], n = p.cu[b + 1] - s;
      unfused_probs(p, b, h, P);  // what an autograd composition would have saved
      const auto dO = head_rows(p.dout, s, n, h);
      head_rows(p.dv, s, n, h).noalias() = P.transpose() * dO;
      dP.noalias() = dO * head_rows(p.v, s, n, h).transpose();
      const Eigen::VectorXf rowdot = (P.array() * dP.array()).rowwise().sum();
      dP = P.array() * (dP.array().colwise() - rowdot.array());
      head_rows(p.dq, s, n, h).noalias() = float(p.d.scale) * (dP * head_rows(p.k, s, n, h));
      head_rows(p.dk, s, n, h).noalias() = float(p.d.scale) * (dP.transpose() * head_rows(p.q, s, n, h));
    }
}

void report(benchmark::State& st, double flops) {
  st.counters["FLOP/s"] = benchmark::Counter(flops * double(st.iterations()), benchmark::Counter::kIsRate);
}

void BM_cpu_fused_forward(benchmark::State& st) {
  Problem p = make(st.range(0), st.range(1));
  for (auto _ : st) {
    fused_forward(p);
    benchmark::DoNotOptimize(p.o.data());
  }
  report(st, p.fwd_flops);
}
void BM_cpu_fused_backward(benchmark::State& st) {
  Problem p = make(st.range(0), st.range(1));
  fused_forward(p);
  for (auto _ : st) {
    fused_backward(p);
    benchmark::DoNotOptimize(p.dq.data());
  }
  report(st, 2.5 * p.fwd_flops);
}
template <class H>
void BM_cpu_fused_forward_half(benchmark::State& st) {
  HalfProblem<H> p = make_half<H>(st.range(0), st.range(1));
  for (auto _ : st) {
    fused_forward_half(p);
    benchmark::DoNotOptimize(p.o.data());
  }
  report(st, p.f.fwd_flops);
}
template <class H>
void BM_cpu_fused_backward_half(benchmark::State& st) {
  HalfProblem<H> p = make_half<H>(st.range(0), st.range(1));
  fused_forward_half(p);
  for (auto _ : st) {
    leseg::kernels::attention_backward_cpu<H, int64_t>(p.q.data(), p.k.data(), p.v.data(), p.f.cu.data(),
                                                       p.f.cu.data(), nullptr, nullptr, p.o.data(), p.lse.data(),
                                                       p.dout.data(), p.f.d, p.dq.data(), p.dk.data(), p.dv.data(),
                                                       nullptr, p.f.ws.data());
    benchmark::DoNotOptimize(p.dq.data());
  }
  report(st, 2.5 * p.f.fwd_flops);
}
void BM_cpu_unfused_forward(benchmark::State& st) {
  Problem p = make(st.range(0), st.range(1));
  RowMatF P(st.range(1), st.range(1));
  for (auto _ : st) {
    unfused_forward(p, P);
    benchmark::DoNotOptimize(p.o.data());
  }
  report(st, p.fwd_flops);
}
void BM_cpu_unfused_backward(benchmark::State& st) {
  Problem p = make(st.range(0), st.range(1));
  RowMatF P(st.range(1), st.range(1)), dP(st.range(1), st.range(1));
  for (auto _ : st) {
    unfused_backward(p, P, dP);
    benchmark::DoNotOptimize(p.dq.data());
  }
  report(st, 2.5 * p.fwd_flops);
}

#if LESEG_WITH_CUDA
struct DeviceProblem {
  Problem host;
  leseg::Tensor q, k, v, o, lse, dout, dq, dk, dv, cu, ws;
};
// Device tensors stored as `dt` (f32, f16 or bf16); lse is f32 for every storage type.
DeviceProblem make_device(int64_t batch, int64_t len, leseg::DType dt) {
  DeviceProblem p;
  p.host = make(batch, len);
  const leseg::Device dev = leseg::Device::cuda();
  const int64_t T = p.host.d.tq;
  auto up = [&](const std::vector<float>& x) {
    return leseg::Tensor::from_vector(x, leseg::Shape{T, kHeads, kDim}).to(dt).to(dev);
  };
  p.q = up(p.host.q);
  p.k = up(p.host.k);
  p.v = up(p.host.v);
  p.dout = up(p.host.dout);
  p.o = up(p.host.o);
  p.dq = up(p.host.o);
  p.dk = up(p.host.o);
  p.dv = up(p.host.o);
  p.lse = leseg::Tensor::empty(leseg::Shape{T, kHeads}, leseg::DType::f32, dev);
  p.cu = leseg::Tensor::from_vector(p.host.cu, leseg::Shape{int64_t(p.host.cu.size())}, dev);
  p.ws = leseg::Tensor::empty(leseg::Shape{int64_t(p.host.ws.size())}, leseg::DType::u8, dev);
  return p;
}
template <class T>
void cuda_forward(DeviceProblem& p) {
  leseg::kernels::attention_forward_cuda<T, int64_t>(
      p.q.data<T>(), p.k.data<T>(), p.v.data<T>(), p.cu.data<int64_t>(), p.cu.data<int64_t>(), nullptr, nullptr,
      p.host.d, p.o.data<T>(), p.lse.data<float>(), leseg::current_stream(leseg::Device::cuda()));
}
template <class T>
void BM_cuda_fused_forward(benchmark::State& st) {
  DeviceProblem p = make_device(st.range(0), st.range(1), leseg::dtype_v<T>);
  for (auto _ : st) {
    cuda_forward<T>(p);
    leseg::synchronize(leseg::Device::cuda());
  }
  report(st, p.host.fwd_flops);
}
template <class T>
void BM_cuda_fused_backward(benchmark::State& st) {
  DeviceProblem p = make_device(st.range(0), st.range(1), leseg::dtype_v<T>);
  cuda_forward<T>(p);
  for (auto _ : st) {
    leseg::kernels::attention_backward_cuda<T, int64_t>(
        p.q.data<T>(), p.k.data<T>(), p.v.data<T>(), p.cu.data<int64_t>(), p.cu.data<int64_t>(), nullptr, nullptr,
        p.o.data<T>(), p.lse.data<float>(), p.dout.data<T>(), p.host.d, p.dq.data<T>(), p.dk.data<T>(), p.dv.data<T>(),
        nullptr, p.ws.data_ptr(), leseg::current_stream(leseg::Device::cuda()));
    leseg::synchronize(leseg::Device::cuda());
  }
  report(st, 2.5 * p.host.fwd_flops);
}

// Tensor-core variant (f16/bf16): the schedule table built once, as the engine's cache does.
struct TcSchedule {
  leseg::Tensor table, fws, bws;
  leseg::kernels::AttentionTcSchedule s;
};
TcSchedule make_tc(const DeviceProblem& p) {
  namespace tc = leseg::kernels::attn_tc;
  TcSchedule r;
  const std::vector<int32_t> t = tc::build_tc_schedule(p.host.cu.data(), p.host.cu.data(), p.host.d.batch,
                                                       p.host.d.heads, leseg::kernels::attention_tc_target_blocks());
  const tc::TableView tv{t.data(), p.host.d.batch};
  r.table = leseg::Tensor::from_vector(t, leseg::Shape{int64_t(t.size())}, leseg::Device::cuda());
  r.s = {r.table.data<int32_t>(), tv.query_blocks(), tv.key_blocks(), tv.partial_rows()};
  auto bytes = [](int64_t n) { return leseg::Tensor::empty(leseg::Shape{std::max<int64_t>(n, 1)}, leseg::DType::u8, leseg::Device::cuda()); };
  r.fws = bytes(leseg::kernels::attention_tc_forward_workspace_bytes(p.host.d, r.s));
  r.bws = bytes(leseg::kernels::attention_tc_backward_workspace_bytes(p.host.d, r.s));
  return r;
}
template <class T>
void tc_forward(DeviceProblem& p, TcSchedule& t) {
  leseg::kernels::attention_tc_forward_cuda<T>(p.q.data<T>(), p.k.data<T>(), p.v.data<T>(), t.s, nullptr, nullptr,
                                               p.host.d, p.o.data<T>(), p.lse.data<float>(), t.fws.data_ptr(),
                                               leseg::current_stream(leseg::Device::cuda()));
}
template <class T>
void BM_cuda_tc_forward(benchmark::State& st) {
  DeviceProblem p = make_device(st.range(0), st.range(1), leseg::dtype_v<T>);
  TcSchedule t = make_tc(p);
  for (auto _ : st) {
    tc_forward<T>(p, t);
    leseg::synchronize(leseg::Device::cuda());
  }
  report(st, p.host.fwd_flops);
}
template <class T>
void BM_cuda_tc_backward(benchmark::State& st) {
  DeviceProblem p = make_device(st.range(0), st.range(1), leseg::dtype_v<T>);
  TcSchedule t = make_tc(p);
  tc_forward<T>(p, t);
  for (auto _ : st) {
    leseg::kernels::attention_tc_backward_cuda<T>(p.q.data<T>(), p.k.data<T>(), p.v.data<T>(), t.s, nullptr, nullptr,
                                                  p.o.data<T>(), p.lse.data<float>(), p.dout.data<T>(), p.host.d,
                                                  p.dq.data<T>(), p.dk.data<T>(), p.dv.data<T>(), nullptr,
                                                  t.bws.data_ptr(), leseg::current_stream(leseg::Device::cuda()));
    leseg::synchronize(leseg::Device::cuda());
  }
  report(st, 2.5 * p.host.fwd_flops);
}
#endif

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"scenes", "points"})->Args({8, 1024})->Args({1, 8192})->Unit(benchmark::kMillisecond)->UseRealTime();
}

const bool registered = [] {
  benchmark::RegisterBenchmark("attention/cpu_fused_forward", BM_cpu_fused_forward)->Apply(shapes);
  benchmark::RegisterBenchmark("attention/cpu_unfused_forward", BM_cpu_unfused_forward)->Apply(shapes);
  benchmark::RegisterBenchmark("attention/cpu_fused_backward", BM_cpu_fused_backward)->Apply(shapes);
  benchmark::RegisterBenchmark("attention/cpu_unfused_backward", BM_cpu_unfused_backward)->Apply(shapes);
  benchmark::RegisterBenchmark("attention/cpu_fused_forward_bf16", BM_cpu_fused_forward_half<leseg::bf16_t>)
      ->Apply(shapes);
  benchmark::RegisterBenchmark("attention/cpu_fused_backward_bf16", BM_cpu_fused_backward_half<leseg::bf16_t>)
      ->Apply(shapes);
  benchmark::RegisterBenchmark("attention/cpu_fused_forward_f16", BM_cpu_fused_forward_half<leseg::f16_t>)
      ->Apply(shapes);
#if LESEG_WITH_CUDA
  if (leseg::cuda_available()) {
    benchmark::RegisterBenchmark("attention/cuda_fused_forward", BM_cuda_fused_forward<float>)->Apply(shapes);
    benchmark::RegisterBenchmark("attention/cuda_fused_backward", BM_cuda_fused_backward<float>)->Apply(shapes);
    benchmark::RegisterBenchmark("attention/cuda_fused_forward_f16", BM_cuda_fused_forward<leseg::f16_t>)
        ->Apply(shapes);
    benchmark::RegisterBenchmark("attention/cuda_fused_backward_f16", BM_cuda_fused_backward<leseg::f16_t>)
        ->Apply(shapes);
    benchmark::RegisterBenchmark("attention/cuda_fused_forward_bf16", BM_cuda_fused_forward<leseg::bf16_t>)
        ->Apply(shapes);
    benchmark::RegisterBenchmark("attention/cuda_fused_backward_bf16", BM_cuda_fused_backward<leseg::bf16_t>)
        ->Apply(shapes);
    if (leseg::kernels::attention_tc_device_ok()) {
      benchmark::RegisterBenchmark("attention/cuda_tc_forward_bf16", BM_cuda_tc_forward<leseg::bf16_t>)->Apply(shapes);
      benchmark::RegisterBenchmark("attention/cuda_tc_backward_bf16", BM_cuda_tc_backward<leseg::bf16_t>)
          ->Apply(shapes);
      benchmark::RegisterBenchmark("attention/cuda_tc_forward_f16", BM_cuda_tc_forward<leseg::f16_t>)->Apply(shapes);
      benchmark::RegisterBenchmark("attention/cuda_tc_backward_f16", BM_cuda_tc_backward<leseg::f16_t>)->Apply(shapes);
    }
  }
#endif
  return true;
}();

}  // namespace
