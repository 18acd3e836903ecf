// SPDX-License-Identifier: Apache-2.0
// CUDA segment reductions and both voting variants vs the CPU twin. Integer/dyadic data so that atomic
// order cannot change sums; many ties so the tie rules (first row, smallest class) are exercised.
#include <gtest/gtest.h>

#include <random>

#include "engine/autograd.h"
#include "engine/determinism.h"
#include "engine/ops/segment.h"

using namespace leseg;

namespace {
struct Case {
  int64_t N, G, C;
};
std::vector<int64_t> rand_ids(int64_t n, int64_t lo, int64_t hi, unsigned seed) {
  std::mt19937 r(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = lo + int64_t(r() % uint32_t(hi - lo));
  return v;
}
}  // namespace

TEST(SegmentGpu, VoteVariantsMatchCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (Case c : {Case{1000, 37, 7}, Case{5003, 300, 20}, Case{20000, 4000, 64}, Case{7, 3, 2}, Case{0, 5, 3}}) {
    auto gv = rand_ids(c.N, -1, c.G, 1);  // -1: no group
    auto yv = rand_ids(c.N, -1, c.C, 2);  // -1: ignored
    std::mt19937 r(3);
    std::vector<float> wv(size_t(c.N));
    for (auto& w : wv) w = float(r() % 4) * 0.5f;  // dyadic, includes 0 (no vote)
    Tensor g = Tensor::from_vector(gv, Shape{c.N}), y = Tensor::from_vector(yv, Shape{c.N});
    Tensor w = Tensor::from_vector(wv, Shape{c.N});
    for (bool weighted : {false, true}) {
      VoteResult ref = vote_mode(g, y, c.G, c.C, -1, weighted ? w : Tensor());
      for (VoteVariant v : {VoteVariant::SharedHistogram, VoteVariant::SortReduce}) {
        if (v == VoteVariant::SharedHistogram && size_t(c.G * c.C) * 8 > kernels::kVoteSharedBytes) continue;
        VoteResult got = vote_mode(g.to(Device::cuda()), y.to(Device::cuda()), c.G, c.C, -1,
                                   weighted ? w.to(Device::cuda()) : Tensor(), v);
        EXPECT_EQ(got.group_mode.to_vector<int64_t>(), ref.group_mode.to_vector<int64_t>())
            << kernels::vote_variant_name(v) << " N=" << c.N << " G=" << c.G << " C=" << c.C << " w=" << weighted;
        EXPECT_EQ(got.point_mode.to_vector<int64_t>(), ref.point_mode.to_vector<int64_t>())
            << kernels::vote_variant_name(v);
      }
    }
  }
}

TEST(SegmentGpu, ReductionsAndGradientsMatchCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  const int64_t N = 3001, C = 5, G = 97;
  auto gv = rand_ids(N, -1, G, 4);
  std::mt19937 r(5);
  std::vector<float> xv(size_t(N * C));
  for (auto& x : xv) x = float(int(r() % 33) - 16) * 0.25f;
  Tensor g = Tensor::from_vector(gv, Shape{N});
  Tensor xc = Tensor::from_vector(xv, Shape{N, C}).requires_grad_();
  Tensor xg = Tensor::from_vector(xv, Shape{N, C}).to(Device::cuda()).requires_grad_();
  Tensor gg = g.to(Device::cuda());
  auto run = [&](const Tensor& x, const Tensor& grp) {
    return std::vector<Tensor>{segment_sum(x, grp, G), segment_mean(x, grp, G), segment_max(x, grp, G),
                               soft_vote(x, grp, G)};
  };
  auto oc = run(xc, g), og = run(xg, gg);
  for (size_t k = 0; k < oc.size(); ++k) {
    auto a = og[k].to_vector<float>(), b = oc[k].to_vector<float>();
    for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(a[j], b[j], 1e-6 + 1e-6 * std::abs(b[j])) << "out " << k << "[" << j << "]";
  }
  std::vector<Tensor> wc, wg;
  for (size_t k = 0; k < oc.size(); ++k) {
    Tensor w = Tensor::full(oc[k].shape(), 0.5 * double(k + 1));
    wc.push_back(w);
    wg.push_back(w.to(Device::cuda()));
  }
  run_backward(oc, wc, false);
  run_backward(og, wg, false);
  auto a = xg.grad().to_vector<float>(), b = xc.grad().to_vector<float>();
  for (size_t j = 0; j < a.size(); ++j) ASSERT_NEAR(a[j], b[j], 1e-5 + 1e-5 * std::abs(b[j])) << "grad[" << j << "]";
}

TEST(SegmentGpu, CompactionMatchesCpu) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  for (int64_t n : {0, 1, 7, 5003}) {
    std::vector<int64_t> v = rand_ids(n, -1000, 1000, 9);
    if (n > 1) v[1] = int64_t(1) << 40, v[0] = -(int64_t(1) << 41);  // beyond 32 bits, negative
    Tensor ids = Tensor::from_vector(v, Shape{n});
    CompactIds ref = compact_ids(ids), got = compact_ids(ids.to(Device::cuda()));
    ASSERT_EQ(got.num_groups, ref.num_groups) << n;
    EXPECT_EQ(got.unique.to_vector<int64_t>(), ref.unique.to_vector<int64_t>()) << n;
    EXPECT_EQ(got.compact.to_vector<int64_t>(), ref.compact.to_vector<int64_t>()) << n;
  }
}

// Deterministic mode (engine/determinism.h): segment_sum / segment_mean on CUDA sum sorted runs in the CPU twin's
// order, so with non-dyadic data (where atomic order changes the bits) they equal the CPU twin bit for bit, and
// repeats are identical. Includes no-group ids, empty groups, one huge group and N = 0.
TEST(SegmentGpu, DeterministicSumAndMeanAreTheCpuTwinsBits) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  struct Det {
    Det() : before(deterministic()) { set_deterministic(true); }
    ~Det() { set_deterministic(before); }
    bool before;
  } det;
  for (Case c : {Case{1000, 37, 7}, Case{20000, 4000, 3}, Case{50000, 1, 5}, Case{7, 30, 2}, Case{0, 5, 3}}) {
    auto gv = rand_ids(c.N, -1, c.G, 4);
    Tensor g = Tensor::from_vector(gv, Shape{c.N});
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor x = Tensor::randn(Shape{c.N, c.C}, 9, 0, dt);
      const Tensor gg = g.to(Device::cuda()), xg = x.to(Device::cuda());
      Tensor s_cpu = segment_sum(x, g, c.G), m_cpu = segment_mean(x, g, c.G);
      Tensor s1 = segment_sum(xg, gg, c.G), s2 = segment_sum(xg, gg, c.G);
      Tensor m1 = segment_mean(xg, gg, c.G);
      const auto a = s_cpu.to(DType::f64).to_vector<double>();
      EXPECT_EQ(s1.to(Device::cpu()).to(DType::f64).to_vector<double>(), a) << c.N << " " << c.G;
      EXPECT_EQ(s2.to(Device::cpu()).to(DType::f64).to_vector<double>(), a) << "repeat";
      EXPECT_EQ(m1.to(Device::cpu()).to(DType::f64).to_vector<double>(), m_cpu.to(DType::f64).to_vector<double>());
    }
  }
  check_device_errors(Device::cuda());
}

// Deterministic mode picks the sort-reduce vote (no double atomics): repeats give identical modes.
TEST(SegmentGpu, DeterministicVoteRepeats) {
  if (!leseg::cuda_available()) GTEST_SKIP() << "no CUDA device: " << leseg::cuda_unavailable_reason();
  set_deterministic(true);
  auto gv = rand_ids(30000, -1, 500, 5), yv = rand_ids(30000, -1, 20, 6);
  Tensor g = Tensor::from_vector(gv, Shape{30000}).to(Device::cuda());
  Tensor y = Tensor::from_vector(yv, Shape{30000}).to(Device::cuda());
  Tensor w = Tensor::rand(Shape{30000}, 7).to(Device::cuda());
  VoteResult a = vote_mode(g, y, 500, 20, -1, w), b = vote_mode(g, y, 500, 20, -1, w);
  set_deterministic(false);
  EXPECT_EQ(a.group_mode.to_vector<int64_t>(), b.group_mode.to_vector<int64_t>());
  EXPECT_EQ(a.point_mode.to_vector<int64_t>(), b.point_mode.to_vector<int64_t>());
}
