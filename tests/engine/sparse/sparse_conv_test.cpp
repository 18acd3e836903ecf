// SPDX-License-Identifier: Apache-2.0
// sparse_conv3d equals a dense 3D convolution on the densified grid at the active sites (output, input gradient,
// weight gradient, bias gradient) for submanifold, strided and transposed convs; kernel sizes 1/2/3/5, dilation
// 1/2, batch 1-3, random densities. Inputs are small integers, so f64 results are exact and compared tightly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dense_oracle.h"
#include "engine/autograd.h"
#include "engine/host_sync.h"
#include "engine/sparse/sparse_ops.h"

using namespace leseg;
using namespace leseg::testing;

namespace {

Tensor to_tensor(const std::vector<double>& v, Shape s, DType t) { return Tensor::from_vector<double>(v, s).to(t); }

// Element-wise |a - b| <= atol + rtol |ref|; prints the first mismatches; asserts the reference is non-trivial.
void expect_close(const std::vector<double>& got, const std::vector<double>& ref, double atol, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  bool nonzero = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    nonzero |= ref[i] != 0;
    if (!(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i]))) {
      if (++bad <= 5) ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", want " << ref[i];
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << ref.size() << " mismatches";
  if (!ref.empty()) {
    EXPECT_TRUE(nonzero) << what << ": reference is all zero (vacuous case)";
  }
}

struct ConvCase {
  int K, dilation, B, stride;
  bool transposed;
  double density;
  int c_in, c_out;
  bool bias;
};

std::string name(const ConvCase& c) {
  return "K" + std::to_string(c.K) + "_d" + std::to_string(c.dilation) + "_B" + std::to_string(c.B) + "_s" +
         std::to_string(c.stride) + (c.transposed ? "_T" : "") + "_dens" + std::to_string(c.density);
}

// Builds the input (for a transposed case: a stride-2 tensor obtained from a stride-1 set by a down conv's
// coordinate set), runs the op with autograd, and compares with dense_conv.
void run_case(const ConvCase& cc, DType dt, uint64_t seed) {
  SCOPED_TRACE(name(cc));
  auto fine = random_coords(cc.B, 4, cc.density, 1, seed);
  if (fine.empty()) fine = {0, 0, 0, 0};
  const int64_t n_fine = int64_t(fine.size() / 4);
  Tensor fine_t = Tensor::from_vector<int32_t>(fine, Shape{n_fine, 4});
  SparseTensor base(fine_t, Tensor::zeros(Shape{n_fine, cc.c_in}, dt), 1, cc.B);

  SparseTensor input;
  std::vector<int32_t> in_coords, out_coords;
  int32_t in_stride = 1, out_stride = 1;
  if (cc.transposed) {
    auto coarse_set = base.manager()->downsample(1);
    in_coords = coarse_set->coords.to_vector<int32_t>();
    EXPECT_EQ(in_coords, oracle_downsample(fine, 2));
    const int64_t n = coarse_set->size();
    input = SparseTensor(coarse_set, to_tensor(random_ints(n * cc.c_in, seed + 1), Shape{n, cc.c_in}, dt),
                         base.manager());
    in_stride = 2;
    out_stride = 1;
    out_coords = fine;
  } else {
    input = base.with_feats(to_tensor(random_ints(n_fine * cc.c_in, seed + 1), Shape{n_fine, cc.c_in}, dt));
    in_coords = fine;
    out_stride = cc.stride;
    out_coords = cc.stride == 2 ? oracle_downsample(fine, 2) : fine;
  }
  const int V = cc.K * cc.K * cc.K;
  const int64_t n_in = int64_t(in_coords.size() / 4), n_out = int64_t(out_coords.size() / 4);
  auto xv = input.feats().to_vector<double>();
  auto wv = random_ints(int64_t(V) * cc.c_in * cc.c_out, seed + 2);
  auto bv = cc.bias ? random_ints(cc.c_out, seed + 3) : std::vector<double>{};
  auto gv = random_ints(n_out * cc.c_out, seed + 4);

  Tensor x = input.feats().clone().detach().requires_grad_();
  SparseTensor xin = input.with_feats(x);
  Tensor w = to_tensor(wv, Shape{V, cc.c_in, cc.c_out}, dt).requires_grad_();
  Tensor b = cc.bias ? to_tensor(bv, Shape{cc.c_out}, dt).requires_grad_() : Tensor();
  SparseConvOptions opt;
  opt.kernel_size = cc.K;
  opt.dilation = cc.dilation;
  opt.stride = cc.stride;
  opt.transposed = cc.transposed;
  SparseTensor y = sparse_conv3d(xin, w, b, opt);
  ASSERT_EQ(y.coords().to_vector<int32_t>(), out_coords);
  ASSERT_EQ(y.stride(), out_stride);
  y.feats().backward(to_tensor(gv, Shape{n_out, cc.c_out}, dt));

  auto ref = dense_conv(in_coords, xv, cc.c_in, out_coords, wv, cc.c_out, bv, gv, cc.K, cc.dilation, in_stride,
                        out_stride, cc.transposed);
  const double tol = dt == DType::f64 ? 1e-12 : 1e-4;  // integer inputs: f64 exact; f32 exact below 2^24
  expect_close(y.feats().to_vector<double>(), ref.y, tol, 0, "y");
  expect_close(x.grad().to_vector<double>(), ref.gx, tol, 0, "grad x");
  expect_close(w.grad().to_vector<double>(), ref.gw, tol, 0, "grad w");
  if (cc.bias) expect_close(b.grad().to_vector<double>(), ref.gb, tol, 0, "grad bias");
  (void)n_in;
}

}  // namespace

TEST(SparseConv, SubmanifoldEqualsDenseConv) {
  uint64_t seed = 100;
  for (int K : {1, 2, 3, 5})
    for (int dil : {1, 2})
      for (int B : {1, 3}) run_case({K, dil, B, 1, false, 0.15 + 0.1 * B, 3, 4, K != 2}, DType::f64, seed++);
}

TEST(SparseConv, StridedEqualsDenseConv) {
  uint64_t seed = 200;
  for (int K : {2, 3})
    for (int dil : {1, 2})
      for (int B : {1, 2}) run_case({K, dil, B, 2, false, 0.3, 3, 5, true}, DType::f64, seed++);
}

TEST(SparseConv, TransposedEqualsDenseConv) {
  uint64_t seed = 300;
  for (int K : {2, 3})
    for (int dil : {1, 2})
      for (int B : {1, 3}) run_case({K, dil, B, 2, true, 0.25, 4, 3, K == 3}, DType::f64, seed++);
}

TEST(SparseConv, Float32MatchesDenseConv) {
  run_case({3, 1, 2, 1, false, 0.3, 5, 7, true}, DType::f32, 400);
  run_case({2, 1, 2, 2, false, 0.3, 5, 7, true}, DType::f32, 401);
  run_case({2, 1, 2, 2, true, 0.3, 5, 7, true}, DType::f32, 402);
}

TEST(SparseConv, ChainAtHigherTensorStride) {
  // 1 -> 2 -> 4 (strided, K=3), then 4 -> 2 (transposed): offsets scale with the input tensor stride.
  auto fine = random_coords(2, 6, 0.25, 1, 7);
  const int64_t n = int64_t(fine.size() / 4);
  SparseTensor x(Tensor::from_vector<int32_t>(fine, Shape{n, 4}), Tensor::ones(Shape{n, 2}, DType::f64));
  auto W = [&](int64_t V, int64_t ci, int64_t co, uint64_t s) {
    return Tensor::from_vector<double>(random_ints(V * ci * co, s), Shape{V, ci, co});
  };
  SparseConvOptions down{3, 2, 1, false};
  SparseTensor x2 = sparse_conv3d(x, W(27, 2, 3, 1), Tensor(), down);
  SparseTensor x4 = sparse_conv3d(x2, W(27, 3, 3, 2), Tensor(), down);
  ASSERT_EQ(x4.stride(), 4);
  auto c2 = x2.coords().to_vector<int32_t>(), c4 = x4.coords().to_vector<int32_t>();
  EXPECT_EQ(c4, oracle_downsample(c2, 4));
  // stride-4 layer vs oracle
  Tensor w4 = W(27, 3, 3, 2);
  auto ref = dense_conv(c2, x2.feats().to_vector<double>(), 3, c4, w4.to_vector<double>(), 3, {},
                        std::vector<double>(c4.size() / 4 * 3, 1.0), 3, 1, 2, 4, false);
  expect_close(x4.feats().to_vector<double>(), ref.y, 1e-9, 1e-12, "stride 2->4");
  SparseConvOptions up{2, 2, 1, true};
  Tensor wu = W(8, 3, 2, 3);
  SparseTensor u = sparse_conv3d(x4, wu, Tensor(), up);
  ASSERT_EQ(u.stride(), 2);
  EXPECT_EQ(u.coords().to_vector<int32_t>(), c2);
  auto refu = dense_conv(c4, x4.feats().to_vector<double>(), 3, c2, wu.to_vector<double>(), 2, {},
                         std::vector<double>(c2.size() / 4 * 2, 1.0), 2, 1, 4, 2, true);
  expect_close(u.feats().to_vector<double>(), refu.y, 1e-9, 1e-12, "transposed 4->2");
  // The transposed conv reused the cached down-sampling map: 1->2 (K3), 2->4 (K3), 2->4 (K2).
  EXPECT_EQ(x.manager()->num_cached_maps(), 3u);
}

TEST(SparseConv, FiniteDifferenceGradcheck) {
  auto coords = random_coords(2, 2, 0.35, 1, 11);
  const int64_t n = int64_t(coords.size() / 4);
  SparseTensor base(Tensor::from_vector<int32_t>(coords, Shape{n, 4}), Tensor::zeros(Shape{n, 2}, DType::f64));
  for (bool transposed : {false, true}) {
    SCOPED_TRACE(transposed ? "transposed" : "strided/submanifold");
    SparseTensor in = base;
    SparseConvOptions opt{3, 1, 1, false};
    if (transposed) {
      in = sparse_conv3d(base.with_feats(Tensor::randn(Shape{n, 2}, 5, 0, DType::f64)),
                         Tensor::randn(Shape{8, 2, 2}, 6, 0, DType::f64), Tensor(), SparseConvOptions{2, 2, 1, false});
      in = in.with_feats(in.feats().detach());
      opt = SparseConvOptions{2, 2, 1, true};
    }
    const int64_t V = int64_t(opt.kernel_size) * opt.kernel_size * opt.kernel_size;
    Tensor x = Tensor::randn(Shape{in.size(), 2}, 1, 0, DType::f64).requires_grad_();
    Tensor w = Tensor::randn(Shape{V, 2, 3}, 2, 0, DType::f64).requires_grad_();
    Tensor b = Tensor::randn(Shape{3}, 3, 0, DType::f64).requires_grad_();
    auto loss_of = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb) {
      NoGradGuard ng;
      SparseTensor y = sparse_conv3d(in.with_feats(xx), ww, bb, opt);
      auto v = y.feats().to_vector<double>();
      double s = 0;
      for (size_t i = 0; i < v.size(); ++i) s += v[i] * std::sin(0.7 * double(i) + 0.3);
      return s;
    };
    SparseTensor y = sparse_conv3d(in.with_feats(x), w, b, opt);
    std::vector<double> gv(size_t(y.feats().numel()));
    for (size_t i = 0; i < gv.size(); ++i) gv[i] = std::sin(0.7 * double(i) + 0.3);
    y.feats().backward(Tensor::from_vector<double>(gv, y.feats().shape()));
    for (Tensor* p : {&x, &w, &b}) {
      auto analytic = p->grad().to_vector<double>();
      auto base_v = p->to_vector<double>();
      std::vector<double> numeric(base_v.size());
      for (size_t i = 0; i < base_v.size(); ++i) {
        auto plus = base_v, minus = base_v;
        plus[i] += 1e-6;
        minus[i] -= 1e-6;
        Tensor tp = Tensor::from_vector<double>(plus, p->shape()), tm = Tensor::from_vector<double>(minus, p->shape());
        const double lp = p == &x ? loss_of(tp, w, b) : p == &w ? loss_of(x, tp, b) : loss_of(x, w, tp);
        const double lm = p == &x ? loss_of(tm, w, b) : p == &w ? loss_of(x, tm, b) : loss_of(x, w, tm);
        numeric[i] = (lp - lm) / 2e-6;
      }
      expect_close(analytic, numeric, 1e-6, 1e-5, p == &x ? "dx" : p == &w ? "dw" : "db");
    }
  }
}

TEST(SparseConv, DeterministicBitsOnRepeat) {
  auto coords = random_coords(2, 10, 0.2, 1, 21);
  const int64_t n = int64_t(coords.size() / 4);
  SparseTensor x(Tensor::from_vector<int32_t>(coords, Shape{n, 4}), Tensor::randn(Shape{n, 16}, 1));
  Tensor w = Tensor::randn(Shape{27, 16, 24}, 2).requires_grad_();
  std::vector<float> first_y, first_g;
  for (int rep = 0; rep < 3; ++rep) {
    w.zero_grad();
    SparseTensor y = sparse_conv3d(x, w, Tensor(), {3, 1, 1, false});
    y.feats().backward(Tensor::randn(y.feats().shape(), 3));
    auto yv = y.feats().to_vector<float>();
    auto gv = w.grad().to_vector<float>();
    if (rep == 0) {
      first_y = yv;
      first_g = gv;
    } else {
      EXPECT_EQ(0, std::memcmp(yv.data(), first_y.data(), yv.size() * 4));
      EXPECT_EQ(0, std::memcmp(gv.data(), first_g.data(), gv.size() * 4));
    }
  }
}

TEST(SparseConv, EmptyAndSinglePoint) {
  SparseTensor empty(Tensor::empty(Shape{0, 4}, DType::i32), Tensor::zeros(Shape{0, 3}));
  Tensor w = Tensor::ones(Shape{27, 3, 2}).requires_grad_();
  SparseTensor y = sparse_conv3d(empty, w, Tensor(), {});
  EXPECT_EQ(y.size(), 0);
  SparseTensor yd = sparse_conv3d(empty, w, Tensor(), {3, 2, 1, false});
  EXPECT_EQ(yd.size(), 0);

  SparseTensor one(Tensor::from_vector<int32_t>({0, -5, 7, 1048575}, Shape{1, 4}),
                   Tensor::from_vector<float>({1, 2, 3}, Shape{1, 3}));
  // only the centre tap (k = 13) sees the single point
  auto wv = std::vector<float>(27 * 3 * 2, 5.f);
  for (int c = 0; c < 6; ++c) wv[13 * 6 + c] = float(c + 1);
  SparseTensor y1 = sparse_conv3d(one, Tensor::from_vector<float>(wv, Shape{27, 3, 2}), Tensor(), {});
  EXPECT_EQ(y1.feats().to_vector<float>(), (std::vector<float>{1 * 1 + 2 * 3 + 3 * 5, 1 * 2 + 2 * 4 + 3 * 6}));
  SparseTensor y2 = sparse_conv3d(one, Tensor::ones(Shape{8, 3, 2}), Tensor(), {2, 2, 1, false});
  EXPECT_EQ(y2.coords().to_vector<int32_t>(), (std::vector<int32_t>{0, -6, 6, 1048574}));
}

TEST(SparseConv, ClearErrors) {
  SparseTensor x(Tensor::from_vector<int32_t>({0, 0, 0, 0, 0, 1, 0, 0}, Shape{2, 4}), Tensor::zeros(Shape{2, 3}));
  EXPECT_THROW(sparse_conv3d(x, Tensor::zeros(Shape{27, 4, 2}), Tensor(), {}), Error);   // C_in mismatch
  EXPECT_THROW(sparse_conv3d(x, Tensor::zeros(Shape{8, 3, 2}), Tensor(), {}), Error);    // K^3 mismatch
  EXPECT_THROW(sparse_conv3d(x, Tensor::zeros(Shape{27, 3, 2}), Tensor::zeros(Shape{3}), {}), Error);  // bias
  EXPECT_THROW(sparse_conv3d(x, Tensor::zeros(Shape{216, 3, 2}), Tensor(), {6, 1, 1, false}), Error);  // K = 6
  EXPECT_THROW(sparse_conv3d(x, Tensor::zeros(Shape{8, 3, 2}), Tensor(), {2, 2, 1, true}), Error);  // no fine set
  EXPECT_THROW(SparseTensor(Tensor::from_vector<int32_t>({0, 1, 1, 1, 0, 1, 1, 1}, Shape{2, 4}),
                            Tensor::zeros(Shape{2, 1})),
               Error);  // duplicates
  try {
    SparseTensor(Tensor::from_vector<int32_t>({0, 1, 1048576, 1}, Shape{1, 4}), Tensor::zeros(Shape{1, 1}));
    ADD_FAILURE() << "out-of-range coordinate accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1048576"), std::string::npos) << e.what();
  }
}

// The structure plan (CoordinateManager::plan / prebuild, train/structure_ahead.h): a network's kernel-map
// requests recorded on one batch, built ahead on another, make the second forward's requests cache hits (no
// structure sizes read inside it) with the same maps and the same outputs as building on demand.
TEST(SparseConv, StructurePlanBuiltAheadGivesTheSameForwardWithoutStructureSyncs) {
  auto W = [&](int64_t V, int64_t ci, int64_t co, uint64_t s) {
    return Tensor::from_vector<double>(random_ints(V * ci * co, s), Shape{V, ci, co});
  };
  const Tensor w_sub = W(27, 2, 3, 1), w_down = W(8, 3, 3, 2), w_sub2 = W(27, 3, 3, 3), w_up = W(8, 3, 2, 4);
  auto forward = [&](const SparseTensor& x) {  // subm K3 -> strided K2 -> subm K3 at stride 2 -> transposed K2
    SparseTensor a = sparse_conv3d(x, w_sub, Tensor(), SparseConvOptions{3, 1, 1, false});
    SparseTensor b = sparse_conv3d(a, w_down, Tensor(), SparseConvOptions{2, 2, 1, false});
    SparseTensor c = sparse_conv3d(b, w_sub2, Tensor(), SparseConvOptions{3, 1, 1, false});
    return sparse_conv3d(c, w_up, Tensor(), SparseConvOptions{2, 2, 1, true});
  };
  auto input = [&](uint64_t seed) {
    auto c = random_coords(2, 6, 0.3, 1, seed);
    const int64_t n = int64_t(c.size() / 4);
    return SparseTensor(Tensor::from_vector<int32_t>(c, Shape{n, 4}),
                        Tensor::from_vector<double>(random_ints(n * 2, seed + 1), Shape{n, 2}), 1, 2);
  };
  // Step N: the plan, in first-request order (the transposed conv reuses the strided map: no new request).
  SparseTensor first = input(31);
  (void)forward(first);
  const StructurePlan plan = first.manager()->plan();
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0], (StructureRequest{1, 1, 3, 1, KernelRegion::Cube}));
  EXPECT_EQ(plan[1], (StructureRequest{1, 2, 2, 1, KernelRegion::Cube}));
  EXPECT_EQ(plan[2], (StructureRequest{2, 2, 3, 1, KernelRegion::Cube}));
  // Step N + 1 (other coordinates): built ahead, then the forward reads no structure size.
  SparseTensor ahead = input(32), fresh = input(32);
  {
    HostSyncCounter c;
    EXPECT_EQ(ahead.manager()->prebuild(plan), 3);
    EXPECT_GT(c.count(HostSyncKind::Structure), 0);
  }
  HostSyncCounter c;
  SparseTensor y_ahead = forward(ahead);
  EXPECT_EQ(c.count(HostSyncKind::Structure), 0) << c.report();
  EXPECT_EQ(ahead.manager()->plan(), plan);
  SparseTensor y_fresh = forward(fresh);  // the control: built on demand, inside the forward
  EXPECT_GT(c.count(HostSyncKind::Structure), 0);
  EXPECT_EQ(y_ahead.coords().to_vector<int32_t>(), y_fresh.coords().to_vector<int32_t>());
  EXPECT_EQ(y_ahead.feats().to_vector<double>(), y_fresh.feats().to_vector<double>());
  for (const auto& r : plan) {
    auto ka = ahead.manager()->kernel_map(r.in_stride, r.out_stride, r.kernel_size, r.dilation);
    auto kf = fresh.manager()->kernel_map(r.in_stride, r.out_stride, r.kernel_size, r.dilation);
    EXPECT_EQ(ka->offsets, kf->offsets);
    EXPECT_EQ(ka->in_idx.to_vector<int32_t>(), kf->in_idx.to_vector<int32_t>());
    EXPECT_EQ(ka->out_idx.to_vector<int32_t>(), kf->out_idx.to_vector<int32_t>());
  }
  // A plan that starts at a stride this input does not have builds nothing (the forward builds on demand).
  SparseTensor coarse(Tensor::from_vector<int32_t>({0, 0, 0, 0}, Shape{1, 4}), Tensor::ones(Shape{1, 2}, DType::f64), 4, 2);
  EXPECT_EQ(coarse.manager()->prebuild(plan), 0);
  EXPECT_TRUE(coarse.manager()->plan().empty());
}
