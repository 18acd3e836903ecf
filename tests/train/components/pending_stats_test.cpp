// SPDX-License-Identifier: Apache-2.0
// PendingStats (train/components/pending_stats.h): statistics queued in a step and read after it.
// Ratios are written only when their denominator is positive (or as 0 when asked), every pending value comes to the
// host in one read, nothing is read while they are queued; finishes get device tensors' values from the same read.
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

// Device tensors turned into statistics on the host: read with the ratios in the same single read, the finishes run
// in order with their inputs' values (any dtype, flat), an empty input gives an empty vector, append() queues
// another set behind, and the finishes' own reads of host data are not counted.
TEST(PendingStats, FinishesGetTheirInputsFromTheSameRead) {
  HostSyncCounter c;
  PendingStats p, q;
  p.ratio("r", Tensor::full(Shape{}, 3.0, DType::f64), 4.0);
  std::vector<std::string> order;
  const Tensor host = Tensor::from_vector(std::vector<int64_t>{7, 8}, Shape{2});  // host data built in the step
  p.add({Tensor::from_vector(std::vector<int64_t>{2, -1, 5}, Shape{3}), Tensor::zeros(Shape{0}, DType::f32)},
        [&](const std::vector<std::vector<double>>& v, nlohmann::json& j) {
          order.push_back("first");
          EXPECT_EQ(v.size(), 2u);
          EXPECT_EQ(v[0], (std::vector<double>{2, -1, 5}));
          EXPECT_TRUE(v[1].empty());
          j["sum"] = v[0][0] + v[0][1] + v[0][2] + double(host.to_vector<int64_t>()[1]);
        });
  q.add({Tensor::from_vector(std::vector<float>{0.5f, 1.5f}, Shape{1, 2})},
        [&](const std::vector<std::vector<double>>& v, nlohmann::json& j) {
          order.push_back("second");
          j["second"] = v[0][1];
        });
  p.append(q);
  EXPECT_EQ(c.total(), 0);
  nlohmann::json j = nlohmann::json::object();
  p.write(j);
  EXPECT_EQ(c.total(), 1) << c.report();
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  EXPECT_DOUBLE_EQ(j["r"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["sum"].get<double>(), 14.0);
  EXPECT_DOUBLE_EQ(j["second"].get<double>(), 1.5);
  EXPECT_THROW(p.add({Tensor()}, [](const std::vector<std::vector<double>>&, nlohmann::json&) {}), Error);
}
