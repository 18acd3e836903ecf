// SPDX-License-Identifier: Apache-2.0
// CUDA point_scatter vs its CPU twin on Gaussian data (where summation order changes the bits):
//   - the deterministic (sorted) kernel equals point_scatter_cpu bit for bit and repeats bit-identically;
//   - the default (atomic) kernel equals it to rounding;
//   - the same for half features (f16/bf16, f32 weights) against point_scatter_lowp_cpu;
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/common/lowp_acc.h"
#include "kernels/voxelize/point_scatter_sorted.h"
#include "kernels/voxelize/voxelize.h"

#if LESEG_WITH_CUDA

using namespace leseg;
using namespace leseg::kernels;

namespace {

// Empty vectors are padded to one element (a tensor of 0 elements may have no storage).
template <class T>
Tensor upload(std::vector<T> v) {
  if (v.empty()) v.resize(1);
  return Tensor::from_vector(v, Shape{int64_t(v.size())}, Device::cuda());
}
template <class T>
std::vector<T> download(const Tensor& t, size_t n) {
  synchronize(Device::cuda());
  std::vector<T> v = t.to_vector<T>();
  v.resize(n);
  return v;
}

struct Case {
  int64_t n, m, C;
  int corners;
  bool weighted;
};

template <class T>
void run_case(const Case& c) {
  std::mt19937 r(7);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<T> g(size_t(c.n * c.C)), w;
  for (auto& x : g) x = T(nd(r));
  std::vector<int32_t> idx(size_t(c.n * c.corners));
  for (auto& j : idx) j = (r() % 7 == 0) ? -1 : int32_t(r() % uint32_t(c.m));
  if (c.weighted) {
    w.resize(idx.size());
    for (auto& x : w) x = T(std::abs(nd(r)));
  }
  std::vector<T> ref(size_t(c.m * c.C));
  point_scatter_cpu<T>(g.data(), idx.data(), w.empty() ? nullptr : w.data(), c.n, c.corners, c.C, c.m, ref.data());

  Tensor gd = upload(g), idxd = upload(idx), wd = upload(w);
  Tensor out = Tensor::empty(Shape{c.m * c.C}, dtype_of<T>::value, Device::cuda());
  const size_t bytes = point_scatter_sorted_workspace_bytes(c.n, c.corners, c.m);
  Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, Device::cuda());
  const auto s = current_stream(Device::cuda());
  const T* pw = w.empty() ? nullptr : static_cast<const T*>(wd.data_ptr());
  std::vector<T> first;
  for (int rep = 0; rep < 3; ++rep) {
    point_scatter_sorted_cuda<T>(static_cast<const T*>(gd.data_ptr()), static_cast<const int32_t*>(idxd.data_ptr()),
                                 pw, c.n, c.corners, c.C, c.m, static_cast<T*>(out.data_ptr()), ws.data_ptr(),
                                 ws.nbytes(), s);
    const std::vector<T> got = download<T>(out, ref.size());
    ASSERT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * sizeof(T)))
        << "sorted vs CPU twin, n=" << c.n << " m=" << c.m << " corners=" << c.corners << " rep " << rep;
    if (rep == 0) first = got;
    else ASSERT_EQ(0, std::memcmp(got.data(), first.data(), ref.size() * sizeof(T))) << "repeat " << rep;
  }
  point_scatter_cuda<T>(static_cast<const T*>(gd.data_ptr()), static_cast<const int32_t*>(idxd.data_ptr()), pw, c.n,
                        c.corners, c.C, c.m, static_cast<T*>(out.data_ptr()), s);
  const std::vector<T> atomic = download<T>(out, ref.size());
  for (size_t k = 0; k < ref.size(); ++k)
    ASSERT_NEAR(double(atomic[k]), double(ref[k]), 1e-4 * (1.0 + std::abs(double(ref[k])))) << "atomic, entry " << k;
}

TEST(PointScatterGpu, SortedIsTheCpuTwinsBitsAndRepeats) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (Case c : {Case{20000, 37, 16, 1, true}, Case{20000, 37, 16, 1, false}, Case{5000, 900, 8, 8, true},
                 Case{3, 5, 4, 8, false}, Case{0, 5, 4, 1, false}}) {
    run_case<float>(c);
    run_case<double>(c);
  }
}

// Half features with f32 weights: the sorted kernel is point_scatter_lowp_cpu's bits and repeats; the default
// (f32 atomics into a workspace, then one rounding) equals it to a half's rounding.
template <class H>
void run_case_lowp(const Case& c) {
  std::mt19937 r(9);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<H> g(size_t(c.n * c.C));
  for (auto& x : g) x = store_acc<H>(float(nd(r)));
  std::vector<int32_t> idx(size_t(c.n * c.corners));
  for (auto& j : idx) j = (r() % 7 == 0) ? -1 : int32_t(r() % uint32_t(c.m));
  std::vector<float> w;
  if (c.weighted) {
    w.resize(idx.size());
    for (auto& x : w) x = float(std::abs(nd(r)));
  }
  std::vector<H> ref(size_t(c.m * c.C));
  std::vector<float> acc(size_t(std::max<int64_t>(1, c.m * c.C)));
  point_scatter_lowp_cpu<H>(g.data(), idx.data(), w.empty() ? nullptr : w.data(), c.n, c.corners, c.C, c.m,
                            acc.data(), ref.data());
  Tensor gd = upload(g), idxd = upload(idx), wd = upload(w);
  Tensor out = Tensor::empty(Shape{std::max<int64_t>(1, c.m * c.C)}, dtype_of<H>::value, Device::cuda());
  Tensor accd = Tensor::empty(Shape{std::max<int64_t>(1, c.m * c.C)}, DType::f32, Device::cuda());
  const size_t bytes = point_scatter_sorted_workspace_bytes(c.n, c.corners, c.m);
  Tensor ws = Tensor::empty(Shape{int64_t(bytes / 8 + 1)}, DType::f64, Device::cuda());
  const auto s = current_stream(Device::cuda());
  const float* pw = w.empty() ? nullptr : static_cast<const float*>(wd.data_ptr());
  for (int rep = 0; rep < 3; ++rep) {
    point_scatter_lowp_sorted_cuda<H>(static_cast<const H*>(gd.data_ptr()), static_cast<const int32_t*>(idxd.data_ptr()),
                                      pw, c.n, c.corners, c.C, c.m, static_cast<H*>(out.data_ptr()), ws.data_ptr(),
                                      ws.nbytes(), s);
    const std::vector<H> got = download<H>(out, ref.size());
    ASSERT_EQ(0, std::memcmp(got.data(), ref.data(), ref.size() * sizeof(H)))
        << "lowp sorted vs CPU twin, n=" << c.n << " m=" << c.m << " corners=" << c.corners << " rep " << rep;
  }
  point_scatter_lowp_cuda<H>(static_cast<const H*>(gd.data_ptr()), static_cast<const int32_t*>(idxd.data_ptr()), pw,
                             c.n, c.corners, c.C, c.m, static_cast<float*>(accd.data_ptr()),
                             static_cast<H*>(out.data_ptr()), s);
  const std::vector<H> atomic = download<H>(out, ref.size());
  const double tol = std::is_same_v<H, bf16_t> ? 1e-2 : 2e-3;
  for (size_t k = 0; k < ref.size(); ++k)
    ASSERT_NEAR(double(load_acc(atomic[k])), double(load_acc(ref[k])), tol * (1.0 + std::abs(double(load_acc(ref[k])))))
        << "lowp atomic, entry " << k;
}

TEST(PointScatterGpu, LowpSortedIsTheCpuTwinsBitsAndRepeats) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (Case c : {Case{20000, 37, 16, 1, true}, Case{20000, 37, 16, 1, false}, Case{5000, 900, 8, 8, true},
                 Case{3, 5, 4, 8, false}, Case{0, 5, 4, 1, false}}) {
    run_case_lowp<f16_t>(c);
    run_case_lowp<bf16_t>(c);
  }
}

}  // namespace
#else
TEST(PointScatterGpu, NeedsACudaBuild) {
  GTEST_SKIP() << "no CUDA device: CPU-only build (LESEG_CUDA=OFF), no CUDA kernel to test";
}
#endif
