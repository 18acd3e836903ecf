// SPDX-License-Identifier: Apache-2.0
// PendingStats / DeferredStats (train/components/pending_stats.h): statistics queued in a step and read after it.
// Ratios are written only when their denominator is positive (or as 0 when asked), every pending value comes to the
// host in one read, nothing is read while they are queued; deferred functions run at write().
#include <gtest/gtest.h>

#include "engine/host_sync.h"
#include "engine/ops/reduce.h"
#include "train/components/erda.h"
#include "train/components/pending_stats.h"

using namespace leseg;
using namespace leseg::train;

TEST(PendingStats, RatiosAreQueuedAndReadInOneGo) {
  HostSyncCounter c;
  PendingStats p;
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, Shape{4});
  p.ratio("mean", sum(x), 4.0);
  p.ratio("half", sum(x), Tensor::full(Shape{}, 20.0, DType::f64));
  p.ratio("none", sum(x), Tensor::zeros(Shape{}, DType::f64));                  // den 0: omitted
  p.ratio("zero", sum(x), Tensor::zeros(Shape{}, DType::f64), true);            // den 0: written as 0
  p.ratio("host_zero", sum(x), 0.0, true);
  EXPECT_EQ(c.total(), 0) << c.report();  // queued: nothing read yet
  nlohmann::json j = nlohmann::json::object();
  p.write(j);
  EXPECT_EQ(c.total(), 1) << c.report();  // one read for all of them
  EXPECT_DOUBLE_EQ(j["mean"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(j["half"].get<double>(), 0.5);
  EXPECT_FALSE(j.contains("none"));
  EXPECT_DOUBLE_EQ(j["zero"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["host_zero"].get<double>(), 0.0);
  p.clear();
  c.clear();
  nlohmann::json e = nlohmann::json::object();
  p.write(e);
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(c.total(), 0);
  EXPECT_THROW(p.ratio("bad", x, 1.0), Error);  // not one element
}

// ERDA's statistics through the queue equal the JSON form, and a batch without labelled rows writes no labelled_fit.
TEST(PendingStats, ErdaStatisticsWithoutLabelledRows) {
  const Tensor z = Tensor::from_vector(std::vector<float>{5, 0, 0, 0, 5, 0}, Shape{2, 3});
  const Tensor none = Tensor::from_vector(std::vector<int64_t>{-1, -1}, Shape{2});
  PendingStats p;
  erda::labelled_fit_stats(none, z, p);
  nlohmann::json j = nlohmann::json::object();
  p.write(j);
  EXPECT_FALSE(j.contains("labelled_fit"));
  EXPECT_DOUBLE_EQ(j["labelled_fraction"].get<double>(), 0.0);
}

TEST(DeferredStats, FunctionsRunAtWrite) {
  DeferredStats d;
  int runs = 0;
  d.add([&](nlohmann::json& j) {
    ++runs;
    j["k"] = 7;
  });
  EXPECT_EQ(runs, 0);
  nlohmann::json j = nlohmann::json::object();
  d.write(j);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(j["k"].get<int>(), 7);
  d.clear();
  d.write(j);
  EXPECT_EQ(runs, 1);
}
