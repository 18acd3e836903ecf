// SPDX-License-Identifier: Apache-2.0
// The CUDA side of host_sync_regimes_test.cpp: every regime set-up held to a sync-free step there, trained through
// Trainer::run on a CUDA device (train.prefetch on: the batches arrive on the device with their host original), three
// steps each. Inside the Trainer's "train_step" region (regime step + backward) the host must not wait for the device
// at all: no real device->host copy or stream sync, only the first step's sparse structure (no plan yet). On the CPU
// build those are "would-be" syncs; here they are the real ones (HostSyncEvent::real).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/device.h"
#include "engine/host_sync.h"
#include "train/job.h"
#include "train/trainer.h"
#include "tests/train/host_sync_fixture.h"

using namespace leseg;
using namespace leseg::train;
using namespace leseg::train::testing;

namespace {
// One epoch (3 steps) of a set-up through Trainer::run on CUDA with prefetch: nothing real inside the step region.
void expect_no_wait_inside_the_step(const std::string& name, const std::string& yaml,
                                    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> o = {"device=cuda", "train.prefetch=true", "data.workers=2", "train.epochs=1",
                                "train.clip_grad_norm=1.0"};
  o.insert(o.end(), extra.begin(), extra.end());
  Config c = regime_config(yaml, "gpu_" + name, o);
  Job job = build_job(c, JobKind::Train);
  job.trainer.verbose = false;
  HostSyncCounter counter;
  const TrainResult res = Trainer(*job.regime, *job.train, job.val.get(), job.trainer).run();
  ASSERT_GE(res.step_losses.size(), 3u) << name;  // one epoch: 3 batches (LASS3D's labelled split: 4)
  int64_t inside = 0, inside_real = 0, inside_structure = 0, real = 0;
  for (const auto& e : counter.events()) {
    real += e.real;
    if (e.region != "train_step") continue;
    ++inside;
    inside_real += e.real && e.kind != HostSyncKind::Structure;
    inside_structure += e.kind == HostSyncKind::Structure;
  }
  EXPECT_EQ(inside_real, 0) << name << ":\n" << counter.report(true);
  EXPECT_EQ(inside, inside_structure) << name << ":\n" << counter.report(true);
  std::printf("cuda, %zu %s steps: %lld host syncs (%lld real), %lld inside the step (structure, step 0)\n",
              res.step_losses.size(), name.c_str(), (long long)counter.total(), (long long)real, (long long)inside);
}
}  // namespace

TEST(HostSyncRegimesGpu, TrainingStepsWaitForNothingOnTheDevice) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  for (const auto& [name, yaml] : sync_free_setups()) expect_no_wait_inside_the_step(name, yaml);
}

// The label controls moved off the device reads (host_sync_regimes_test.cpp): ERDA's shuffled labels from the host
// original, the label-free regimes' ground-truth pair targets, LASS3D's device-side argmax swap, CNS's random classes
// ranked on the device.
TEST(HostSyncRegimesGpu, LabelControlsWaitForNothingOnTheDevice) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_unavailable_reason();
  std::map<std::string, std::string> base;
  for (const auto& [name, yaml] : sync_free_setups()) base[name] = yaml;
  for (const auto& [regime, source] : std::vector<std::pair<std::string, std::string>>{
           {"erda", "shuffled"}, {"clip2scene", "gt"}, {"lass3d", "shuffled"}, {"cns", "gt"}, {"cns", "shuffled"}})
    expect_no_wait_inside_the_step(regime + "_" + source, base.at(regime), {"data.label_source=" + source});
}
