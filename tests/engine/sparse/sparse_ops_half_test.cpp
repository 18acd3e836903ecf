// SPDX-License-Identifier: Apache-2.0
// The sparse structure ops (sparse_cat, global pools, voxelize mean/first, devoxelize nearest/trilinear) on bf16 / f16
// features (engine/sparse/sparse_ops.h): the half result against the f32/f64 op on the rounded inputs, then rounded.
// Bit-equal where the order of the f32 arithmetic is the reference's (copies, maxima, the pools' averages); within
// one half ulp where only the f32 summation order differs (trilinear weights, voxel means, scatter gradients).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "dense_oracle.h"
#include "engine/autograd.h"
#include "engine/sparse/sparse_ops.h"

using namespace leseg;
using namespace leseg::testing;

namespace {

const DType kHalves[] = {DType::bf16, DType::f16};

std::vector<uint16_t> bits(const Tensor& h) {
  Tensor c = h.clone();
  std::vector<uint16_t> out(size_t(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 2);
  return out;
}
std::vector<double> vals(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

// Bits of a half result vs the reference rounded to the half type.
void expect_bits(const Tensor& got, const Tensor& ref_wide, const std::string& what) {
  const Tensor ref = ref_wide.to(DType::f32).to(got.dtype());
  auto a = bits(got), b = bits(ref);
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && ++bad <= 5) ADD_FAILURE() << what << "[" << i << "]: bits " << a[i] << " vs " << b[i];
  EXPECT_EQ(bad, 0) << what;
  bool nonzero = false;
  for (double v : vals(ref)) nonzero |= v != 0;
  EXPECT_TRUE(nonzero) << what << ": all-zero reference";
}
// Within one unit in the last place of the half type (2^-7 / 2^-10 relative) of the f64 reference, plus an absolute
// slack for f32 cancellation (scale * 2^-20); reports how many elements are bit-equal to the rounded reference.
void expect_ulp(const Tensor& got, const Tensor& ref_wide, double scale, const std::string& what) {
  const double rel = got.dtype() == DType::bf16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
  auto g = vals(got), r = vals(ref_wide);
  ASSERT_EQ(g.size(), r.size()) << what;
  auto gb = bits(got), rb = bits(ref_wide.to(DType::f32).to(got.dtype()));
  int bad = 0;
  size_t equal = 0;
  bool nonzero = false;
  for (size_t i = 0; i < g.size(); ++i) {
    nonzero |= r[i] != 0;
    equal += gb[i] == rb[i];
    if (!(std::fabs(g[i] - r[i]) <= rel * std::fabs(r[i]) + scale * std::ldexp(1.0, -20)))
      if (++bad <= 5) ADD_FAILURE() << what << "[" << i << "]: " << g[i] << " vs " << r[i];
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_TRUE(nonzero) << what;
  // rounding of the same real number: nearly always the same bits
  EXPECT_GE(double(equal), 0.95 * double(g.size())) << what << ": " << equal << " of " << g.size() << " bit-equal";
}

struct Cloud {
  Tensor points, batch, feats;  // f32 points, i32 batch, f32 feats
  int64_t n;
};
Cloud make_cloud(int64_t n, int B, uint64_t seed, int64_t C) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<double> p(static_cast<size_t>(3 * n)), f(static_cast<size_t>(C * n));
  std::vector<int32_t> b(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < 3; ++d) p[3 * i + d] = u(rng);
    for (int64_t c = 0; c < C; ++c) f[C * i + c] = u(rng) * 4;
    b[i] = int32_t(rng() % B);
  }
  return {Tensor::from_vector<double>(p, Shape{n, 3}).to(DType::f32), Tensor::from_vector<int32_t>(b, Shape{n}),
          Tensor::from_vector<double>(f, Shape{n, C}).to(DType::f32), n};
}

}  // namespace

TEST(SparseOpsHalf, CatAndPoolsAreBitEqualToTheRoundedWideOp) {
  auto coords = random_coords(3, 8, 0.3, 1, 11);
  const int64_t n = int64_t(coords.size() / 4);
  Tensor c = Tensor::from_vector<int32_t>(coords, Shape{n, 4});
  for (DType H : kHalves) {
    SCOPED_TRACE(dtype_name(H));
    Tensor fa = Tensor::randn(Shape{n, 5}, 1).to(H), fb = Tensor::randn(Shape{n, 3}, 2).to(H);
    SparseTensor a(c, fa, 1, 3);
    SparseTensor b = a.with_feats(fb);
    SparseTensor a64 = a.with_feats(fa.to(DType::f64)), b64 = a.with_feats(fb.to(DType::f64));
    // forward
    Tensor cat = sparse_cat(a, b).feats();
    EXPECT_EQ(cat.dtype(), H);
    expect_bits(cat, sparse_cat(a64, b64).feats(), "cat");
    Tensor avg = global_avg_pool(a), mx = global_max_pool(a);
    EXPECT_EQ(avg.dtype(), H);
    EXPECT_EQ(mx.dtype(), H);
    expect_bits(avg, global_avg_pool(a64), "avg");  // both: double sum in row order, s / count, f32, one rounding
    expect_bits(mx, global_max_pool(a64), "max");
    // backward: half gradients on half leaves; the reference is the f32 op's backward of the rounded gradient
    Tensor xa = fa.detach().requires_grad_(), xb = fb.detach().requires_grad_();
    Tensor gy = Tensor::randn(Shape{n, 8}, 3).to(H);
    sparse_cat(a.with_feats(xa), b.with_feats(xb)).feats().backward(gy);
    ASSERT_EQ(xa.grad().dtype(), H);
    Tensor ra = fa.to(DType::f32).detach().requires_grad_(), rb = fb.to(DType::f32).detach().requires_grad_();
    sparse_cat(a.with_feats(ra), b.with_feats(rb)).feats().backward(gy.to(DType::f32));
    expect_bits(xa.grad(), ra.grad(), "cat grad a");
    expect_bits(xb.grad(), rb.grad(), "cat grad b");
    for (bool is_max : {false, true}) {
      Tensor x = fa.detach().requires_grad_(), r = fa.to(DType::f32).detach().requires_grad_();
      Tensor gp = Tensor::randn(Shape{3, 5}, 4).to(H);
      (is_max ? global_max_pool(a.with_feats(x)) : global_avg_pool(a.with_feats(x))).backward(gp);
      (is_max ? global_max_pool(a.with_feats(r)) : global_avg_pool(a.with_feats(r))).backward(gp.to(DType::f32));
      ASSERT_EQ(x.grad().dtype(), H);
      expect_bits(x.grad(), r.grad(), is_max ? "max grad" : "avg grad");
    }
  }
}

TEST(SparseOpsHalf, VoxelizeAndDevoxelizeMatchTheRoundedWideOp) {
  Cloud cl = make_cloud(1500, 2, 7, 6);
  const double vs = 0.08;
  for (DType H : kHalves) {
    SCOPED_TRACE(dtype_name(H));
    const Tensor fh = cl.feats.to(H);
    const Tensor f64 = fh.to(DType::f64), p64 = cl.points.to(DType::f64);
    // voxelize: first is a copy (bits), mean a scatter with f32 weights 1/count (one ulp)
    Voxelized first = voxelize(cl.points, cl.batch, fh, vs, VoxelReduce::First);
    Voxelized first64 = voxelize(p64, cl.batch, f64, vs, VoxelReduce::First);
    EXPECT_EQ(first.voxels.feats().dtype(), H);
    expect_bits(first.voxels.feats(), first64.voxels.feats(), "voxelize first");
    Tensor xf = fh.detach().requires_grad_();
    Voxelized mean = voxelize(cl.points, cl.batch, xf, vs, VoxelReduce::Mean);
    Voxelized mean64 = voxelize(p64, cl.batch, f64, vs, VoxelReduce::Mean);
    ASSERT_EQ(mean.voxels.size(), mean64.voxels.size());
    ASSERT_LT(mean.voxels.size(), cl.n);  // voxels with several points: the means sum
    expect_ulp(mean.voxels.feats(), mean64.voxels.feats(), 2.0, "voxelize mean");
    // its backward: gather of the gradient with weights 1/count (one fmaf, one rounding): the wide op's bits
    const int64_t m = mean.voxels.size();
    Tensor gv = Tensor::randn(Shape{m, 6}, 5).to(H);
    mean.voxels.feats().backward(gv);
    ASSERT_EQ(xf.grad().dtype(), H);
    Tensor r32 = cl.feats.to(H).to(DType::f32).detach().requires_grad_();
    voxelize(cl.points, cl.batch, r32, vs, VoxelReduce::Mean).voxels.feats().backward(gv.to(DType::f32));
    expect_bits(xf.grad(), r32.grad(), "voxelize mean grad");

    // devoxelize: nearest is a copy; trilinear an fmaf chain over 8 corners with f32 weights (one ulp)
    SparseTensor vox = mean64.voxels.with_feats(Tensor::randn(Shape{m, 6}, 6).to(H));
    SparseTensor vox64 = vox.with_feats(vox.feats().to(DType::f64));
    expect_bits(devoxelize_nearest(vox, mean.inverse), devoxelize_nearest(vox64, mean64.inverse), "nearest");
    Tensor xv = vox.feats().detach().requires_grad_();
    Tensor tri = devoxelize_trilinear(vox.with_feats(xv), cl.points, cl.batch, vs);
    EXPECT_EQ(tri.dtype(), H);
    expect_ulp(tri, devoxelize_trilinear(vox64, p64, cl.batch, vs), 4.0, "trilinear");
    // trilinear backward: scatter of the gradient into the voxels, f32 accumulation, one rounding (one ulp)
    Tensor gp = Tensor::randn(Shape{cl.n, 6}, 8).to(H);
    tri.backward(gp);
    ASSERT_EQ(xv.grad().dtype(), H);
    Tensor r64 = vox64.feats().detach().requires_grad_();
    devoxelize_trilinear(vox64.with_feats(r64), p64, cl.batch, vs).backward(gp.to(DType::f64));
    expect_ulp(xv.grad(), r64.grad(), 8.0, "trilinear grad");
  }
}

TEST(SparseOpsHalf, ErrorsNameTheDtypes) {
  Cloud cl = make_cloud(200, 1, 9, 2);
  Voxelized v = voxelize(cl.points, cl.batch, cl.feats.to(DType::bf16), 0.1);
  // half features take f32 points (the weights are f32)
  try {
    devoxelize_trilinear(v.voxels, cl.points.to(DType::f64), cl.batch, 0.1);
    FAIL() << "f64 points with bf16 features accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("points must be (N, 3) f32"), std::string::npos) << m;
    EXPECT_NE(m.find("bf16"), std::string::npos) << m;
  }
  SparseTensor a = v.voxels, b = v.voxels.with_feats(v.voxels.feats().to(DType::f32));
  try {
    sparse_cat(a, b);
    FAIL() << "bf16 + f32 cat accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sparse_cat: dtypes bf16 and f32"), std::string::npos) << e.what();
  }
  SparseTensor ints = v.voxels.with_feats(Tensor::zeros(Shape{v.voxels.size(), 2}, DType::i32));
  EXPECT_THROW(global_avg_pool(ints), Error);
}
