// SPDX-License-Identifier: Apache-2.0
// train.cuda_graph on the CPU: refused with a clear error before any step, and the host-sync guard of the captured
// region (require_sync_free) refuses a region that reads the device (a CPU read stands for a device read: the
// accounting of engine/host_sync.h) and accepts one that does not.
#include <gtest/gtest.h>

#include "engine/ops/elementwise.h"
#include "train/job.h"
#include "train/optimizer_graph.h"
#include "train/trainer.h"
#include "train_fixture.h"

using namespace leseg;
using namespace leseg::train;

TEST(OptimizerGraph, RefusedOnACpuDevice) {
  Config cfg = leseg::train::testing::tiny_config(leseg::train::testing::scratch("cuda_graph_cpu"));
  cfg.apply_override("train.cuda_graph=true");
  Job job = build_job(cfg, JobKind::Train);
  job.trainer.verbose = false;
  ASSERT_TRUE(job.trainer.cuda_graph);
  Trainer t(*job.regime, *job.train, job.val.get(), job.trainer);
  try {
    t.run();
    FAIL() << "train.cuda_graph on the CPU must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("train.cuda_graph: needs a CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_optimizer_graph_supported(job.regime->optimizers(), Device::cpu(), Precision::f32), std::exception);
}

TEST(OptimizerGraph, RegionThatReadsTheDeviceIsRefused) {
  Tensor x = Tensor::from_vector<float>({1.f, 2.f, 3.f}, Shape{3});
  try {
    require_sync_free("test region", [&] { (void)mul(x, x).to_vector<float>(); });
    FAIL() << "a read inside the region must be refused";
  } catch (const std::exception& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("test region"), std::string::npos) << m;
    EXPECT_NE(m.find("cannot hold"), std::string::npos) << m;
  }
  Tensor y;
  EXPECT_NO_THROW(require_sync_free("test region", [&] { y = mul(x, x); }));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1.f, 4.f, 9.f}));
}
