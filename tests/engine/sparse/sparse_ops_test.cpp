// SPDX-License-Identifier: Apache-2.0
// Voxelize / devoxelize (nearest, trilinear), global pools and sparse_cat vs serial-loop oracles, plus
// double-precision finite-difference gradient checks.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>

#include "dense_oracle.h"
#include "engine/autograd.h"
#include "engine/sparse/sparse_ops.h"

using namespace leseg;
using namespace leseg::testing;

namespace {

void expect_close(const std::vector<double>& got, const std::vector<double>& ref, double atol, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero |= ref[i] != 0;
    if (!(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i])))
      if (++bad <= 5) ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", want " << ref[i];
  }
  EXPECT_EQ(bad, 0) << what;
  if (!ref.empty()) {
    EXPECT_TRUE(nonzero) << what << ": all-zero reference";
  }
}

// Central differences of f (a scalar function of the values of `x`) vs the analytic gradient.
void gradcheck(Tensor x, const std::function<Tensor(const Tensor&)>& f, const std::string& what) {
  x = x.detach().requires_grad_();
  Tensor y = f(x);
  std::vector<double> wv(size_t(y.numel()));
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = std::cos(0.37 * double(i) + 0.1);
  y.backward(Tensor::from_vector<double>(wv, y.shape()));
  auto analytic = x.grad().to_vector<double>();
  auto base = x.to_vector<double>();
  std::vector<double> numeric(base.size());
  for (size_t i = 0; i < base.size(); ++i) {
    double l[2];
    for (int s = 0; s < 2; ++s) {
      auto v = base;
      v[i] += s ? -1e-6 : 1e-6;
      NoGradGuard ng;
      auto out = f(Tensor::from_vector<double>(v, x.shape())).to_vector<double>();
      double acc = 0;
      for (size_t j = 0; j < out.size(); ++j) acc += out[j] * wv[j];
      l[s] = acc;
    }
    numeric[i] = (l[0] - l[1]) / 2e-6;
  }
  expect_close(analytic, numeric, 1e-6, 1e-5, what);
}

struct Cloud {
  Tensor points, batch, feats;
  int64_t n;
};
Cloud make_cloud(int64_t n, int B, uint64_t seed, DType dt = DType::f64) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<double> p(static_cast<size_t>(3 * n)), f(static_cast<size_t>(3 * n));
  std::vector<int32_t> b(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < 3; ++d) p[3 * i + d] = u(rng);
    for (int d = 0; d < 3; ++d) f[3 * i + d] = u(rng) * 4;
    b[i] = int32_t(rng() % B);
  }
  return {Tensor::from_vector<double>(p, Shape{n, 3}).to(dt), Tensor::from_vector<int32_t>(b, Shape{n}),
          Tensor::from_vector<double>(f, Shape{n, 3}).to(dt), n};
}

}  // namespace

TEST(Voxelize, MeanAndFirstMatchSerialLoop) {
  Cloud c = make_cloud(500, 2, 1);
  const double vs = 0.13;
  auto pv = c.points.to_vector<double>();
  auto bv = c.batch.to_vector<int32_t>();
  auto fv = c.feats.to_vector<double>();
  // oracle: voxels in order of first occurrence
  std::map<Coord, int> id;
  std::vector<int32_t> ref_coords, ref_inv;
  std::vector<double> sum, first;
  std::vector<int> cnt;
  for (int64_t i = 0; i < c.n; ++i) {
    Coord k{bv[i], int32_t(std::floor(pv[3 * i] / vs)), int32_t(std::floor(pv[3 * i + 1] / vs)),
            int32_t(std::floor(pv[3 * i + 2] / vs))};
    auto [it, fresh] = id.emplace(k, int(id.size()));
    if (fresh) {
      ref_coords.insert(ref_coords.end(), {std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k)});
      sum.insert(sum.end(), 3, 0.0);
      first.insert(first.end(), &fv[3 * i], &fv[3 * i] + 3);
      cnt.push_back(0);
    }
    ref_inv.push_back(it->second);
    for (int d = 0; d < 3; ++d) sum[3 * it->second + d] += fv[3 * i + d];
    ++cnt[it->second];
  }
  for (size_t j = 0; j < cnt.size(); ++j)
    for (int d = 0; d < 3; ++d) sum[3 * j + d] /= cnt[j];
  Voxelized v = voxelize(c.points, c.batch, c.feats, vs, VoxelReduce::Mean);
  EXPECT_EQ(v.voxels.coords().to_vector<int32_t>(), ref_coords);
  EXPECT_EQ(v.inverse.to_vector<int32_t>(), ref_inv);
  EXPECT_EQ(v.counts.to_vector<int32_t>(), std::vector<int32_t>(cnt.begin(), cnt.end()));
  expect_close(v.voxels.feats().to_vector<double>(), sum, 1e-12, 1e-12, "mean");
  Voxelized vf = voxelize(c.points, c.batch, c.feats, vs, VoxelReduce::First);
  expect_close(vf.voxels.feats().to_vector<double>(), first, 0, 0, "first");
  EXPECT_LT(v.voxels.size(), c.n);  // some points share voxels
}

TEST(Voxelize, Gradients) {
  Cloud c = make_cloud(40, 2, 2);
  for (auto mode : {VoxelReduce::Mean, VoxelReduce::First})
    gradcheck(c.feats, [&](const Tensor& f) { return voxelize(c.points, c.batch, f, 0.3, mode).voxels.feats(); },
              mode == VoxelReduce::Mean ? "voxelize mean" : "voxelize first");
}

TEST(Voxelize, OutOfRangeNamesTheValue) {
  Tensor p = Tensor::from_vector<double>({0.0, 0.0, 0.0, 5e6, 0.0, 0.0}, Shape{2, 3});
  Tensor b = Tensor::from_vector<int32_t>({0, 0}, Shape{2});
  try {
    voxelize(p, b, Tensor::zeros(Shape{2, 1}, DType::f64), 1.0);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5000000"), std::string::npos) << e.what();
  }
}

TEST(Devoxelize, NearestAndTrilinearMatchSerialLoop) {
  Cloud c = make_cloud(300, 2, 3);
  const double vs = 0.1;
  Voxelized v = voxelize(c.points, c.batch, c.feats, vs);
  SparseTensor vox = v.voxels.with_feats(Tensor::randn(Shape{v.voxels.size(), 4}, 4, 0, DType::f64));
  auto vf = vox.feats().to_vector<double>();
  auto inv = v.inverse.to_vector<int32_t>();
  std::vector<double> ref_near;
  for (int32_t j : inv) ref_near.insert(ref_near.end(), &vf[4 * j], &vf[4 * j] + 4);
  expect_close(devoxelize_nearest(vox, v.inverse).to_vector<double>(), ref_near, 0, 0, "nearest");

  // trilinear oracle: corners floor(u) + {0,1}^3, missing corners dropped, weights renormalised
  std::map<Coord, int> id;
  auto vc = vox.coords().to_vector<int32_t>();
  for (size_t j = 0; j < vc.size() / 4; ++j) id[Coord{vc[4 * j], vc[4 * j + 1], vc[4 * j + 2], vc[4 * j + 3]}] = int(j);
  auto pv = c.points.to_vector<double>();
  auto bv = c.batch.to_vector<int32_t>();
  std::vector<double> ref(size_t(c.n) * 4, 0.0);
  int64_t partial = 0;
  for (int64_t i = 0; i < c.n; ++i) {
    double wsum = 0, acc[4] = {0, 0, 0, 0};
    int found = 0;
    for (int cx = 0; cx < 2; ++cx)
      for (int cy = 0; cy < 2; ++cy)
        for (int cz = 0; cz < 2; ++cz) {
          double w = 1;
          int32_t k[3];
          const int o[3] = {cx, cy, cz};
          for (int d = 0; d < 3; ++d) {
            const double u = pv[3 * i + d] / vs, f = std::floor(u);
            k[d] = int32_t(f) + o[d];
            w *= o[d] ? u - f : 1 - (u - f);
          }
          auto it = id.find(Coord{bv[i], k[0], k[1], k[2]});
          if (it == id.end()) continue;
          ++found;
          wsum += w;
          for (int ch = 0; ch < 4; ++ch) acc[ch] += w * vf[4 * it->second + ch];
        }
    partial += found < 8;
    for (int ch = 0; ch < 4; ++ch) ref[4 * i + ch] = wsum > 0 ? acc[ch] / wsum : 0;
  }
  EXPECT_GT(partial, 0);  // the renormalisation path is exercised
  expect_close(devoxelize_trilinear(vox, c.points, c.batch, vs).to_vector<double>(), ref, 1e-12, 1e-10, "trilinear");
}

TEST(Devoxelize, Gradients) {
  Cloud c = make_cloud(30, 1, 5);
  Voxelized v = voxelize(c.points, c.batch, c.feats, 0.25);
  Tensor f0 = Tensor::randn(Shape{v.voxels.size(), 2}, 6, 0, DType::f64);
  gradcheck(f0, [&](const Tensor& f) { return devoxelize_nearest(v.voxels.with_feats(f), v.inverse); }, "nearest");
  gradcheck(f0, [&](const Tensor& f) { return devoxelize_trilinear(v.voxels.with_feats(f), c.points, c.batch, 0.25); },
            "trilinear");
}

TEST(SparsePool, AvgMaxMatchSerialLoopAndGradcheck) {
  auto coords = random_coords(3, 2, 0.3, 1, 8);
  // drop batch 1 entirely: an empty batch element pools to 0
  std::vector<int32_t> kept;
  for (size_t i = 0; i < coords.size(); i += 4)
    if (coords[i] != 1) kept.insert(kept.end(), &coords[i], &coords[i] + 4);
  const int64_t n = int64_t(kept.size() / 4);
  std::vector<double> f(static_cast<size_t>(n * 2));
  for (int64_t i = 0; i < n * 2; ++i) f[size_t(i)] = double((i * 7919) % 101) * 0.01;  // distinct values
  SparseTensor x(Tensor::from_vector<int32_t>(kept, Shape{n, 4}), Tensor::from_vector<double>(f, Shape{n, 2}), 1, 3);
  std::vector<double> ref_avg(6, 0), ref_max(6, 0);
  std::vector<int> cnt(3, 0);
  std::vector<bool> seen(6, false);
  for (int64_t i = 0; i < n; ++i) {
    const int b = kept[4 * i];
    ++cnt[b];
    for (int c = 0; c < 2; ++c) {
      ref_avg[b * 2 + c] += f[i * 2 + c];
      if (!seen[b * 2 + c] || f[i * 2 + c] > ref_max[b * 2 + c]) ref_max[b * 2 + c] = f[i * 2 + c];
      seen[b * 2 + c] = true;
    }
  }
  for (int b = 0; b < 3; ++b)
    for (int c = 0; c < 2; ++c) ref_avg[b * 2 + c] = cnt[b] ? ref_avg[b * 2 + c] / cnt[b] : 0;
  expect_close(global_avg_pool(x).to_vector<double>(), ref_avg, 1e-12, 1e-12, "avg");
  expect_close(global_max_pool(x).to_vector<double>(), ref_max, 0, 0, "max");
  gradcheck(x.feats(), [&](const Tensor& t) { return global_avg_pool(x.with_feats(t)); }, "avg grad");
  gradcheck(x.feats(), [&](const Tensor& t) { return global_max_pool(x.with_feats(t)); }, "max grad");
}

TEST(SparseCat, ConcatsFeaturesAndSplitsGradients) {
  auto coords = random_coords(1, 2, 0.4, 1, 9);
  const int64_t n = int64_t(coords.size() / 4);
  SparseTensor a(Tensor::from_vector<int32_t>(coords, Shape{n, 4}), Tensor::randn(Shape{n, 2}, 1, 0, DType::f64));
  SparseTensor b = a.with_feats(Tensor::randn(Shape{n, 3}, 2, 0, DType::f64));
  SparseTensor c = sparse_cat(a, b);
  ASSERT_EQ(c.channels(), 5);
  auto cv = c.feats().to_vector<double>(), av = a.feats().to_vector<double>(), bv = b.feats().to_vector<double>();
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 2; ++k) EXPECT_EQ(cv[i * 5 + k], av[i * 2 + k]);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(cv[i * 5 + 2 + k], bv[i * 3 + k]);
  }
  gradcheck(a.feats(), [&](const Tensor& t) { return sparse_cat(a.with_feats(t), b).feats(); }, "cat a");
  gradcheck(b.feats(), [&](const Tensor& t) { return sparse_cat(a, b.with_feats(t)).feats(); }, "cat b");
  SparseTensor other(Tensor::from_vector<int32_t>(coords, Shape{n, 4}), Tensor::zeros(Shape{n, 1}, DType::f64));
  EXPECT_THROW(sparse_cat(a, other), Error);  // equal coordinates but another manager: not one coordinate set
}
