// SPDX-License-Identifier: Apache-2.0
// The fused CPU batch norm + ReLU (+ residual) (engine/nn/batch_norm_relu.h) against the unfused composition
// relu(add(batch_norm(x), r)): output, running buffers and every gradient (x, weight, bias, residual), training and
// eval, f64 (to 1e-10) and f32 (to 1e-5); the one-pass statistics stay accurate when |mean| >> std; a bad residual
// shape and eval without running buffers fail clearly.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/nn/batch_norm_relu.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"

using namespace leseg;

namespace {

std::vector<double> vals(const Tensor& t) {
  Tensor c = t.to(DType::f64);
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}
double max_rel(const Tensor& a, const Tensor& b) {
  const auto u = vals(a), v = vals(b);
  EXPECT_EQ(u.size(), v.size());
  double e = 0, s = 0;
  for (size_t i = 0; i < u.size() && i < v.size(); ++i) {
    e = std::max(e, std::fabs(u[i] - v[i]));
    s = std::max(s, std::fabs(v[i]));
  }
  return s > 0 ? e / s : e;
}

struct BnRun {
  Tensor y, rm, rv, gx, gw, gb, gr;
};

BnRun run(bool fused, DType dt, bool training, bool with_res, double shift = 0.0) {
  const int64_t N = 517, C = 24;
  Tensor x = (Tensor::randn(Shape{N, C}, 1).to(dt) * 2.0 + shift).detach().requires_grad_();
  Tensor w = (Tensor::randn(Shape{C}, 2).to(dt) * 0.5 + 1.0).detach().requires_grad_();
  Tensor b = (Tensor::randn(Shape{C}, 3).to(dt) * 0.3).detach().requires_grad_();
  Tensor r = with_res ? Tensor::randn(Shape{N, C}, 4).to(dt).requires_grad_() : Tensor();
  BnRun o;
  o.rm = (Tensor::randn(Shape{C}, 5).to(dt) * 0.1).detach();
  o.rv = (Tensor::randn(Shape{C}, 6).to(dt) * 0.1 + 1.0).detach();
  if (fused) {
    EXPECT_TRUE(batch_norm_relu_fused(x));
    o.y = batch_norm_relu(x, o.rm, o.rv, w, b, training, 0.1, 1e-5, r);
  } else {
    Tensor z = batch_norm(x, o.rm, o.rv, w, b, training, 0.1, 1e-5);
    o.y = relu(with_res ? add(z, r) : z);
  }
  Tensor g = Tensor::randn(Shape{N, C}, 7).to(dt);
  sum(o.y * g).backward();
  o.gx = x.grad(), o.gw = w.grad(), o.gb = b.grad();
  if (with_res) o.gr = r.grad();
  return o;
}

}  // namespace

TEST(BatchNormRelu, FusedMatchesComposition) {
  for (DType dt : {DType::f64, DType::f32})
    for (bool training : {true, false})
      for (bool with_res : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + (training ? " training" : " eval") + (with_res ? " +res" : ""));
        const double tol = dt == DType::f64 ? 1e-10 : 1e-5;
        const BnRun f = run(true, dt, training, with_res), u = run(false, dt, training, with_res);
        EXPECT_LT(max_rel(f.y, u.y), tol);
        EXPECT_LT(max_rel(f.rm, u.rm), tol);
        EXPECT_LT(max_rel(f.rv, u.rv), tol);
        EXPECT_LT(max_rel(f.gx, u.gx), tol);
        EXPECT_LT(max_rel(f.gw, u.gw), tol);
        EXPECT_LT(max_rel(f.gb, u.gb), tol);
        if (with_res) EXPECT_LT(max_rel(f.gr, u.gr), tol);
        // about half the outputs are clipped, and the gradients are not trivially zero
        int zeros = 0;
        for (double v : vals(f.y)) zeros += v == 0.0;
        EXPECT_GT(zeros, 1000);
        EXPECT_GT(max_rel(f.gx, f.gx * 0.0), 0.0);
      }
}

TEST(BatchNormRelu, OnePassStatisticsWithLargeMean) {
  // mean 1000, std 2: a plain Σx² − (Σx)² in float would lose the variance; the shifted sums keep it
  const BnRun f = run(true, DType::f32, true, false, 1000.0), u = run(false, DType::f32, true, false, 1000.0);
  EXPECT_LT(max_rel(f.rv, u.rv), 1e-5);
  EXPECT_LT(max_rel(f.y, u.y), 1e-3);  // x̂ itself carries float rounding of x ~ 1000 (ulp 6e-5, std 2)
  EXPECT_LT(max_rel(f.gx, u.gx), 1e-3);
}

TEST(BatchNormRelu, BadResidualFails) {
  Tensor x = Tensor::randn(Shape{10, 4}, 1);
  EXPECT_THROW(batch_norm_relu(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, Tensor::randn(Shape{10, 3}, 2)),
               Error);
  EXPECT_THROW(batch_norm_relu(x, Tensor(), Tensor(), Tensor(), Tensor(), false), Error);  // eval without buffers
}
