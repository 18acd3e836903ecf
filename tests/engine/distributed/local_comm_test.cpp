// SPDX-License-Identifier: Apache-2.0
// engine/distributed in one process: the local backend's collectives are identities, synchronised BatchNorm over
// a world of one equals the fused batch_norm op (values, running statistics, gradients of x / weight / bias), the
// gradient reducer keeps gradients and their absence, fault-injection parsing. The multi-rank cases run under
// mpirun: tests/distributed/.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/distributed/comm.h"
#include "engine/distributed/grad_reducer.h"
#include "engine/distributed/sync_batch_norm.h"
#include "engine/nn/layers.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/nn_functional.h"
#include "engine/ops/reduce.h"

using namespace leseg;

namespace {
double max_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, double(std::fabs(x[i] - y[i])));
  return m;
}
}  // namespace

TEST(LocalComm, CollectivesAreIdentities) {
  auto c = dist::make_local_communicator();
  EXPECT_EQ(c->backend(), "local");
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  Tensor t = Tensor::from_vector(std::vector<float>{1.5f, -2.f}, Shape{2});
  c->all_reduce(t);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.5f, -2.f}));
  c->broadcast(t, 0);
  EXPECT_THROW(c->broadcast(t, 1), Error);
  EXPECT_EQ(c->all_gather(t).to_vector<float>(), t.to_vector<float>());
  EXPECT_EQ(c->reduce_scatter(t).to_vector<float>(), t.to_vector<float>());
  std::vector<std::string> s = c->all_gather(std::string("abc"));
  EXPECT_EQ(s, std::vector<std::string>{"abc"});
  EXPECT_THROW(c->set_timeout_s(0), Error);
}

TEST(LocalComm, WorldIsLocalOutsideMpi) {
  if (dist::launched_multi_rank()) GTEST_SKIP() << "launched by mpirun";
  EXPECT_EQ(dist::world().size(), 1);
  EXPECT_EQ(dist::world_size_if_started(), 1);
}

TEST(SyncBatchNorm, OneRankEqualsFusedBatchNorm) {
  auto c = dist::make_local_communicator();
  Tensor x = mul(Tensor::randn(Shape{37, 5}, 11), 3.0);
  Tensor w = Tensor::randn(Shape{5}, 12), b = Tensor::randn(Shape{5}, 13);
  Tensor gy = Tensor::randn(Shape{37, 5}, 14);
  auto run = [&](bool sync, Tensor& rm, Tensor& rv, std::vector<Tensor>& grads) {
    Tensor xx = x.clone().detach(), ww = w.clone().detach(), bb = b.clone().detach();
    xx.requires_grad_();
    ww.requires_grad_();
    bb.requires_grad_();
    Tensor y = sync ? dist::sync_batch_norm(*c, xx, rm, rv, ww, bb, 0.1, 1e-5)
                    : batch_norm(xx, rm, rv, ww, bb, true, 0.1, 1e-5);
    sum(mul(y, gy)).backward();
    grads = {xx.grad(), ww.grad(), bb.grad()};
    return y.detach();
  };
  Tensor rm1 = Tensor::zeros(Shape{5}), rv1 = Tensor::ones(Shape{5}), rm2 = rm1.clone(), rv2 = rv1.clone();
  std::vector<Tensor> g1, g2;
  Tensor y1 = run(false, rm1, rv1, g1), y2 = run(true, rm2, rv2, g2);
  EXPECT_LT(max_diff(y1, y2), 1e-5);
  EXPECT_LT(max_diff(rm1, rm2), 1e-6);
  EXPECT_LT(max_diff(rv1, rv2), 1e-5);
  for (int i = 0; i < 3; ++i) EXPECT_LT(max_diff(g1[size_t(i)], g2[size_t(i)]), 1e-4) << "grad " << i;
  EXPECT_GT(max_diff(g1[0], Tensor::zeros(Shape{37, 5})), 1e-3);  // non-trivial gradients
}

TEST(SyncBatchNorm, BatchNorm1dUsesItInsideTheScopeOnly) {
  auto c = dist::make_local_communicator();
  {
    dist::SyncBatchNormScope s(c.get());
    EXPECT_EQ(dist::sync_batch_norm_comm(), nullptr) << "a world of one needs no synchronisation";
  }
  EXPECT_EQ(dist::sync_batch_norm_comm(), nullptr);
  EXPECT_THROW(dist::sync_batch_norm(*c, Tensor::zeros(Shape{1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), 0.1, 1e-5),
               Error);  // one value per channel
}

TEST(GradReducer, LocalReduceKeepsGradientsAndTheirAbsence) {
  auto c = dist::make_local_communicator();
  Tensor a = Tensor::randn(Shape{3, 4}, 1), b = Tensor::randn(Shape{5}, 2), d = Tensor::randn(Shape{2}, 3);
  for (Tensor* p : {&a, &b, &d}) p->requires_grad_();
  sum(mul(a, a)).backward();
  sum(b).backward();
  const std::vector<float> ga = a.grad().to_vector<float>();
  dist::GradReducer red(*c, {a, b, d}, 16);  // 16 bytes: a and b in buckets of their own
  EXPECT_EQ(red.num_buckets(), 3u);
  EXPECT_EQ(red.bytes(), int64_t((12 + 5 + 2) * 4));
  red.reduce();
  EXPECT_EQ(a.grad().to_vector<float>(), ga);
  EXPECT_EQ(b.grad().to_vector<float>(), std::vector<float>(5, 1.f));
  EXPECT_FALSE(d.grad().defined());
  EXPECT_THROW(dist::GradReducer(*c, {a, a}), Error);
}

TEST(GradReducer, OverlapStartsBucketsDuringTheBackwardInBucketOrder) {
  auto c = dist::make_local_communicator();
  Tensor a = Tensor::randn(Shape{4}, 1), b = Tensor::randn(Shape{4}, 2), unused = Tensor::randn(Shape{4}, 3);
  for (Tensor* p : {&a, &b, &unused}) p->requires_grad_();
  dist::GradReducer red(*c, {a, b, unused}, 16);  // one bucket each: [unused], [b], [a] (reverse order)
  ASSERT_EQ(red.num_buckets(), 3u);
  const std::vector<float> want_a = mul(b, 2.0).to_vector<float>();
  red.begin();
  EXPECT_NE(backward_observer(), nullptr);
  sum(mul(mul(a, b), 2.0)).backward();
  // The first bucket holds `unused`, which never becomes ready: nothing may start before it (bucket order).
  EXPECT_EQ(red.started_in_backward(), 0u);
  red.reduce();
  EXPECT_EQ(backward_observer(), nullptr);
  EXPECT_EQ(a.grad().to_vector<float>(), want_a);
  EXPECT_FALSE(unused.grad().defined());
  // Without the unused parameter every bucket starts during the backward.
  a.zero_grad();
  b.zero_grad();
  dist::GradReducer red2(*c, {a, b}, 16);
  red2.begin();
  sum(mul(mul(a, b), 2.0)).backward();
  EXPECT_EQ(red2.started_in_backward(), 2u);
  red2.reduce();
  EXPECT_EQ(a.grad().to_vector<float>(), want_a);
}

TEST(LocalComm, HybridRoutesByDeviceAndChecksRanks) {
  auto a = dist::make_local_communicator(), b = dist::make_local_communicator();
  auto h = dist::make_hybrid_communicator(*a, *b);
  EXPECT_EQ(h->backend(), "local+local");
  EXPECT_EQ(h->size(), 1);
  Tensor t = Tensor::from_vector(std::vector<double>{2.0}, Shape{1});
  h->all_reduce(t);
  h->all_reduce_start(t)->wait();
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>{2.0});
  Tensor u;
  EXPECT_THROW(h->all_reduce(u), Error);
  EXPECT_EQ(&dist::world_for(Device::cpu()), &dist::world());
}
