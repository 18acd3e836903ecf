// SPDX-License-Identifier: Apache-2.0
// CUDA fused-loss kernels vs their CPU twins, for every row mapping (LossVariant::WarpPerRow, BlockPerRow
// and Auto), widths C = 20, 1000 and 4096 (rows not a multiple of the 8 rows per block), and storage types
// f32, f16 and bf16. Accumulators: relative 1e-5 (f32 sums inside a row on the GPU, double on the CPU).
// Gradients: f32 1e-6 + 1e-4·|ref|; halves: the two sides round slightly different f32/double values to
// the half type, so they may differ by one half ulp (2^-10·|ref| f16, 2^-7·|ref| bf16) plus the f32 noise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"
#include "kernels/losses/losses.h"

#if LESEG_WITH_CUDA  // kernel-level CUDA entry points exist only in a CUDA build

using namespace leseg;
using namespace leseg::kernels;

namespace {

template <class T>
Tensor upload(const std::vector<T>& v) {
  return Tensor::from_vector(v, Shape{int64_t(v.size())}, Device::cuda());
}
template <class T>
std::vector<T> download(const Tensor& t) {
  synchronize(Device::cuda());
  return t.to_vector<T>();
}
template <class T>
T* dptr(Tensor& t) { return static_cast<T*>(t.data_ptr()); }

template <class T>
double ulp_rel() {
  if constexpr (std::is_same_v<T, f16_t>) return 1.0 / 1024;
  if constexpr (std::is_same_v<T, bf16_t>) return 1.0 / 128;
  return 0.0;
}

template <class T>
void expect_grad(const std::vector<T>& gpu, const std::vector<T>& cpu, const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  const double rtol = 1e-4 + ulp_rel<T>(), atol = 1e-6;
  int bad = 0;
  bool nonzero = false;
  for (size_t j = 0; j < cpu.size(); ++j) {
    const double a = Convert<double, T>::apply(gpu[j]), b = Convert<double, T>::apply(cpu[j]);
    nonzero |= b != 0.0;
    if (!(std::abs(a - b) <= atol + rtol * std::abs(b)) && bad++ < 8)
      ADD_FAILURE() << what << "[" << j << "]: cuda " << a << ", cpu " << b;
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(nonzero) << what << ": all zero";
}
void expect_acc(const std::vector<double>& gpu, const double* cpu, int n, const std::string& what) {
  for (int k = 0; k < n; ++k)
    EXPECT_LE(std::abs(gpu[size_t(k)] - cpu[k]), 1e-9 + 1e-5 * std::abs(cpu[k])) << what << " acc[" << k << "]";
  EXPECT_NE(cpu[0], 0.0) << what;
}

template <class T>
std::vector<T> random_values(size_t n, unsigned seed, double sd, bool positive = false) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(0.0, sd);
  std::vector<T> v(n);
  for (auto& x : v) x = Convert<T, double>::apply(positive ? std::abs(d(g)) : d(g));
  return v;
}

template <class T>
void check_all(int64_t C, LossVariant variant) {
  using P = loss_param_t<T>;
  const int64_t N = C >= 1000 ? 67 : 301;
  const size_t n = size_t(N * C);
  const std::string tag = "C=" + std::to_string(C) + " variant=" + std::to_string(int(variant)) + " ";
  const auto z = random_values<T>(n, unsigned(C), 3.0), t = random_values<T>(n, unsigned(C) + 1, 3.0),
             p = random_values<T>(n, unsigned(C) + 2, 0.3, true);
  std::vector<int64_t> y(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) y[size_t(i)] = i % 9 == 4 ? -1 : (i * 37 + 5) % C;
  std::vector<P> w(static_cast<size_t>(C));
  for (int64_t k = 0; k < C; ++k) w[size_t(k)] = P(0.5 + 0.25 * double(k % 7));
  Tensor zd = upload(z), td = upload(t), pd = upload(p), yd = upload(y), wd = upload(w);
  Tensor g1 = Tensor::empty(Shape{int64_t(n)}, dtype_v<T>, Device::cuda());
  Tensor g2 = Tensor::empty(Shape{int64_t(n)}, dtype_v<T>, Device::cuda());
  Tensor accd = Tensor::empty(Shape{4}, DType::f64, Device::cuda());
  Tensor reld = Tensor::empty(Shape{N}, DType::u8, Device::cuda()), psd = Tensor::empty(Shape{N}, DType::i64, Device::cuda());
  const StreamHandle s = current_stream(Device::cuda());
  const T *zp = dptr<T>(zd), *tp = dptr<T>(td), *pp = dptr<T>(pd);
  const int64_t* yp = dptr<int64_t>(yd);
  std::vector<T> c1(n), c2(n);
  double acc[4];

  cross_entropy_cpu<T>(z.data(), y.data(), w.data(), N, C, -1, 0.1, c1.data(), acc);
  cross_entropy_cuda<T>(zp, yp, dptr<P>(wd), N, C, -1, 0.1, dptr<T>(g1), dptr<double>(accd), s, variant);
  expect_acc(download<double>(accd), acc, 2, tag + "cross_entropy");
  expect_grad(download<T>(g1), c1, tag + "cross_entropy dz");

  soft_cross_entropy_cpu<T>(z.data(), p.data(), N, C, c1.data(), c2.data(), acc);
  soft_cross_entropy_cuda<T>(zp, pp, N, C, dptr<T>(g1), dptr<T>(g2), dptr<double>(accd), s, variant);
  expect_acc(download<double>(accd), acc, 2, tag + "soft_ce");
  expect_grad(download<T>(g1), c1, tag + "soft_ce dz");
  expect_grad(download<T>(g2), c2, tag + "soft_ce dp");

  entropy_cpu<T>(z.data(), N, C, c1.data(), acc);
  entropy_cuda<T>(zp, N, C, dptr<T>(g1), dptr<double>(accd), s, variant);
  expect_acc(download<double>(accd), acc, 2, tag + "entropy");
  expect_grad(download<T>(g1), c1, tag + "entropy dz");

  kl_div_cpu<T>(z.data(), t.data(), N, C, 2.0, c1.data(), c2.data(), acc);
  kl_div_cuda<T>(zp, tp, N, C, 2.0, dptr<T>(g1), dptr<T>(g2), dptr<double>(accd), s, variant);
  expect_acc(download<double>(accd), acc, 2, tag + "kl_div");
  expect_grad(download<T>(g1), c1, tag + "kl_div dzp");
  expect_grad(download<T>(g2), c2, tag + "kl_div dzq");

  negative_learning_cpu<T>(z.data(), y.data(), N, C, -1, c1.data(), acc);
  negative_learning_cuda<T>(zp, yp, N, C, -1, dptr<T>(g1), dptr<double>(accd), s, variant);
  expect_acc(download<double>(accd), acc, 2, tag + "negative_learning");
  expect_grad(download<T>(g1), c1, tag + "negative_learning dz");

  // teacher sharpened so that both branches occur at every width; tau above 1/2 keeps rows with a tied max
  // (frequent in bf16) away from the threshold
  std::vector<T> tz(n);
  for (size_t j = 0; j < n; ++j) tz[j] = Convert<T, double>::apply(Convert<double, T>::apply(t[j]) * (j / size_t(C) % 2 ? 8.0 : 1.0));
  Tensor tzd = upload(tz);
  std::vector<uint8_t> rel(static_cast<size_t>(N));
  std::vector<int64_t> ps(static_cast<size_t>(N));
  confidence_split_cpu<T>(z.data(), tz.data(), N, C, 0.55, rel.data(), ps.data(), c1.data(), acc);
  confidence_split_cuda<T>(zp, dptr<T>(tzd), N, C, 0.55, dptr<uint8_t>(reld), dptr<int64_t>(psd), dptr<T>(g1),
                           dptr<double>(accd), s, variant);
  const auto ga = download<double>(accd);
  expect_acc(ga, acc, 4, tag + "confidence_split");
  EXPECT_GT(acc[1], 0.0) << tag;
  EXPECT_GT(acc[3], 0.0) << tag;
  EXPECT_EQ(download<uint8_t>(reld), rel) << tag;
  EXPECT_EQ(download<int64_t>(psd), ps) << tag;
  expect_grad(download<T>(g1), c1, tag + "confidence_split dz");

  cosine_embedding_cpu<T>(z.data(), t.data(), N, C, c1.data(), c2.data(), acc);
  cosine_embedding_cuda<T>(zp, tp, N, C, dptr<T>(g1), dptr<T>(g2), dptr<double>(accd), s, variant);
  expect_acc(download<double>(accd), acc, 2, tag + "cosine");
  expect_grad(download<T>(g1), c1, tag + "cosine da");
  expect_grad(download<T>(g2), c2, tag + "cosine db");

  mse_cpu<T>(z.data(), t.data(), int64_t(n), c1.data(), acc);
  mse_cuda<T>(zp, tp, int64_t(n), dptr<T>(g1), dptr<double>(accd), s);
  expect_acc(download<double>(accd), acc, 2, tag + "mse");
  expect_grad(download<T>(g1), c1, tag + "mse da");
}

template <class T>
class LossKernelsGpu : public ::testing::Test {};
using StorageTypes = ::testing::Types<float, f16_t, bf16_t>;
TYPED_TEST_SUITE(LossKernelsGpu, StorageTypes);

TYPED_TEST(LossKernelsGpu, EveryVariantAndWidthMatchesCpuTwin) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (int64_t C : {20, 1000, 4096})
    for (LossVariant v : {LossVariant::WarpPerRow, LossVariant::BlockPerRow, LossVariant::Auto})
      check_all<TypeParam>(C, v);
}

TEST(LossKernelsGpu, AllIgnoredWideRowsGiveZeroAccumulatorsAndGradients) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const int64_t N = 5, C = 4096;
  std::vector<float> z(size_t(N * C), 1e4f);
  std::vector<int64_t> y(size_t(N), -1);
  Tensor zd = upload(z), yd = upload(y), accd = Tensor::empty(Shape{2}, DType::f64, Device::cuda());
  Tensor g = Tensor::full(Shape{N * C}, 7.0, DType::f32, Device::cuda());
  for (LossVariant v : {LossVariant::WarpPerRow, LossVariant::BlockPerRow}) {
    cross_entropy_cuda<float>(dptr<float>(zd), dptr<int64_t>(yd), nullptr, N, C, -1, 0.1, dptr<float>(g),
                              dptr<double>(accd), current_stream(Device::cuda()), v);
    EXPECT_EQ(download<double>(accd), (std::vector<double>{0.0, 0.0}));
    for (float x : download<float>(g)) ASSERT_EQ(x, 0.f);
  }
}

// Deterministic mode's accumulation (a partials buffer): acc repeats bit for bit, is the fixed-order sum of the
// blocks' partials (replayed on the host), and equals the CPU twin to rounding, for both row mappings and more
// blocks than the grid cap (N = 40000 rows of 20: 5000 warp-per-row blocks, 2048 slots).
TEST(LossKernelsGpu, DeterministicAccumulationRepeatsAndIsTheFixedOrderSum) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const int64_t N = 40000, C = 20;
  const auto z = random_values<float>(size_t(N * C), 21, 3.0);
  std::vector<int64_t> y(static_cast<size_t>(N));
  std::mt19937 r(22);
  for (auto& v : y) v = int64_t(r() % uint32_t(C + 1)) - 1;  // -1: ignored
  double ref[2];
  cross_entropy_cpu<float>(z.data(), y.data(), nullptr, N, C, -1, 0.0, nullptr, ref);
  Tensor zd = upload(z), yd = upload(y), accd = Tensor::empty(Shape{2}, DType::f64, Device::cuda());
  Tensor part = Tensor::empty(Shape{kLossPartials}, DType::f64, Device::cuda());
  for (LossVariant v : {LossVariant::WarpPerRow, LossVariant::BlockPerRow}) {
    const int64_t blocks = losses::det_grid(std::min<int64_t>(
        v == LossVariant::WarpPerRow ? (N + 7) / 8 : N, int64_t(1) << 16));
    std::vector<double> first;
    for (int rep = 0; rep < 3; ++rep) {
      cross_entropy_cuda<float>(dptr<float>(zd), dptr<int64_t>(yd), nullptr, N, C, -1, 0.0, nullptr,
                                dptr<double>(accd), current_stream(Device::cuda()), v, dptr<double>(part));
      const std::vector<double> acc = download<double>(accd), p = download<double>(part);
      for (int k = 0; k < 2; ++k) {
        const double host = losses::fixed_order_sum_host(p.data() + size_t(k) * kLossDetBlocks, blocks);
        EXPECT_EQ(std::memcmp(&acc[size_t(k)], &host, 8), 0) << "slot " << k << " variant " << int(v);
      }
      if (rep == 0) first = acc;
      else EXPECT_EQ(std::memcmp(acc.data(), first.data(), 16), 0) << "repeat " << rep << " variant " << int(v);
    }
    expect_acc(first, ref, 2, "deterministic cross_entropy");
  }
  // N = 0: the accumulators are zeroed, pass 2 is not run.
  cross_entropy_cuda<float>(dptr<float>(zd), dptr<int64_t>(yd), nullptr, 0, C, -1, 0.0, nullptr, dptr<double>(accd),
                            current_stream(Device::cuda()), LossVariant::Auto, dptr<double>(part));
  EXPECT_EQ(download<double>(accd), (std::vector<double>{0.0, 0.0}));
}

}  // namespace
#else
TEST(LossKernelsGpu, NeedsACudaBuild) { GTEST_SKIP() << "no CUDA device: CPU-only build (LESEG_CUDA=OFF), no CUDA kernel to test"; }
#endif
