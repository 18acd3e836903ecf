// SPDX-License-Identifier: Apache-2.0
// CUDA reductions vs the CPU twin (skips without a device): every op on multi-chunk rows, inner > 1,
// prime sizes; bitwise run-to-run determinism of the full sum; exactness on dyadic inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/device.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/reduce/reduce.h"

namespace leseg::kernels {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!::leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << ::leseg::cuda_unavailable_reason()

#if LESEG_WITH_CUDA
// Runs op on CUDA; returns values (and indices through `idx`).
std::vector<float> run_cuda(ReduceOp op, const Tensor& xd, ReduceDims d, int64_t corr, std::vector<int64_t>* idx) {
  const int64_t nout = d.outer * d.inner;
  Tensor out = Tensor::empty(Shape{nout}, DType::f32, Device::cuda());
  Tensor id = Tensor::empty(Shape{nout}, DType::i64, Device::cuda());
  const size_t ws = reduce_workspace_bytes_cuda(op, d);
  Tensor w = Tensor::empty(Shape{int64_t(ws)}, DType::u8, Device::cuda());
  reduce_forward_cuda<float>(op, xd.data<float>(), out.data<float>(), idx ? id.data<int64_t>() : nullptr, d, corr,
                             ws ? w.data_ptr() : nullptr, ws, nullptr);
  if (idx) *idx = id.to_vector<int64_t>();
  return out.to_vector<float>();
}
#endif

TEST(ReduceGpu, AllOpsMatchCpuTwin) {
  SKIP_WITHOUT_CUDA();
#if LESEG_WITH_CUDA
  const std::vector<ReduceDims> dims = {{1, (1 << 24) + 3, 1}, {3, 1000003, 1}, {1000, 1031, 1}, {7, 13, 1},
                                        {64, 129, 257},       {1, 5, 100003},  {100003, 3, 1},
                                        {1, 100003, 32}, {3, 2000000, 7}, {50000, 20, 1}, {2, 64, 1}, {2, 65, 1}};
  Generator g(5);
  for (const ReduceDims& d : dims) {
    const int64_t n = d.outer * d.r * d.inner, nout = d.outer * d.inner;
    Tensor x = randn(Shape{n}, g);
    Tensor xd = x.to(Device::cuda());
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::var, ReduceOp::max, ReduceOp::min}) {
      const bool arg = op == ReduceOp::max || op == ReduceOp::min;
      std::vector<float> ref(size_t(nout), 0.f);
      std::vector<int64_t> ridx(static_cast<size_t>(nout)), gidx;
      reduce_forward_cpu<float>(op, x.data<float>(), ref.data(), arg ? ridx.data() : nullptr, d, 1);
      std::vector<float> got = run_cuda(op, xd, d, 1, arg ? &gidx : nullptr);
      int bad = 0;
      for (int64_t j = 0; j < nout; ++j)
        if (!(std::abs(got[size_t(j)] - ref[size_t(j)]) <= 1e-5 + 1e-5 * std::abs(ref[size_t(j)])) && bad++ < 8)
          ADD_FAILURE() << "op " << int(op) << " dims (" << d.outer << "," << d.r << "," << d.inner << ") [" << j
                        << "]: cuda " << got[size_t(j)] << " vs cpu " << ref[size_t(j)];
      EXPECT_EQ(bad, 0);
      if (arg) {
        EXPECT_EQ(gidx, ridx) << "op " << int(op);
      }
    }
  }
#endif
}

TEST(ReduceGpu, FullSumIsDeterministicAndExactOnDyadicInputs) {
  SKIP_WITHOUT_CUDA();
#if LESEG_WITH_CUDA
  const int64_t n = (1 << 23) + 101;
  std::vector<float> v(static_cast<size_t>(n));
  double want = 0;
  for (int64_t i = 0; i < n; ++i) {
    v[size_t(i)] = float((i * 7919) % 2001 - 1000) * 0.25f;
    want += v[size_t(i)];
  }
  Tensor xd = Tensor::from_vector(v, Shape{n}, Device::cuda());
  auto s1 = run_cuda(ReduceOp::sum, xd, ReduceDims{1, n, 1}, 0, nullptr);
  EXPECT_EQ(double(s1[0]), want);
  Generator g(9);
  Tensor r = randn(Shape{n}, g, DType::f32, Device::cuda());
  auto a = run_cuda(ReduceOp::sum, r, ReduceDims{1, n, 1}, 0, nullptr);
  for (int rep = 0; rep < 3; ++rep) {
    auto b = run_cuda(ReduceOp::sum, r, ReduceDims{1, n, 1}, 0, nullptr);
    EXPECT_EQ(a[0], b[0]) << "rep " << rep;
  }
#endif
}

TEST(ReduceGpu, IndexBackwardParity) {
  SKIP_WITHOUT_CUDA();
#if LESEG_WITH_CUDA
  const ReduceDims d{13, 97, 31};
  Generator g(4);
  Tensor go = randn(Shape{13 * 31}, g);
  std::vector<int64_t> idx(13 * 31);
  for (size_t j = 0; j < idx.size(); ++j) idx[j] = int64_t((j * 37) % 97);
  Tensor id = Tensor::from_vector(idx, Shape{13 * 31});
  Tensor gx = Tensor::empty(Shape{13 * 97 * 31}), gxd = Tensor::empty(Shape{13 * 97 * 31}, DType::f32, Device::cuda());
  reduce_index_backward_cpu<float>(go.data<float>(), id.data<int64_t>(), gx.data<float>(), d);
  Tensor god = go.to(Device::cuda()), idd = id.to(Device::cuda());
  reduce_index_backward_cuda<float>(god.data<float>(), idd.data<int64_t>(), gxd.data<float>(), d, nullptr);
  EXPECT_EQ(gxd.to_vector<float>(), gx.to_vector<float>());
#endif
}

}  // namespace
}  // namespace leseg::kernels
