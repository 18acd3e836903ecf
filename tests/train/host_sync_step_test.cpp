// SPDX-License-Identifier: Apache-2.0
// Host syncs in a training step (engine/host_sync.h, docs/execution.md). The step boundary:
//   inside  : regime.step (forward + losses), backward, device-side gradient clipping, optimizer + scheduler steps,
//             zero_grad — what a CUDA graph would capture;
//   outside : the once-per-step error-flag read (check_device_errors) and the metrics read at step end (loss terms,
//             gradient norm), both after the step.
// On this CPU build the counter sees the places that would synchronise on a GPU (a CPU tensor read into a host
// vector stands for a device->host copy), so the test runs without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "engine/host_sync.h"
#include "engine/optim/clip_grad.h"
#include "train/job.h"
#include "train/regime.h"
#include "train/structure_ahead.h"
#include "tests/train/train_fixture.h"

using namespace leseg;
using namespace leseg::train;

namespace {

struct StepResult {
  Tensor gnorm;
  LossTerms terms;
};

StepResult sync_free_step(Regime& r, const Batch& b, int64_t it) {
  SyncFreeRegion region("train_step");
  StepResult out;
  out.terms = r.step(b, 0, it);
  out.terms.total().backward();
  std::vector<Tensor> all;
  for (auto& slot : r.optimizers()) all.insert(all.end(), slot.params.begin(), slot.params.end());
  out.gnorm = clip_grad_norm_device_(all, 0.5);
  for (auto& slot : r.optimizers()) {
    slot.optimizer->step();
    if (slot.scheduler && !slot.per_epoch) slot.scheduler->step();
    slot.optimizer->zero_grad();
  }
  return out;
}

}  // namespace

TEST(HostSync, CounterSeesReadsCopiesAndRegions) {
  Tensor t = Tensor::full(Shape{3}, 2.0, DType::f32, Device::cpu());
  HostSyncCounter c;
  (void)t.to_vector<float>();  // a host read outside any region
  {
    SyncFreeRegion r("region");
    Tensor u = t.clone();  // storage to storage: a device-side copy on a GPU, not a sync
    u.copy_(t);
    EXPECT_EQ(c.total(), 1);
    EXPECT_EQ(u.narrow(1, 1).item<float>(), 2.0f);  // a read inside the region: a violation
    synchronize(Device::cpu());                    // a stream sync inside the region
  }
  EXPECT_EQ(c.total(), 3);
  EXPECT_EQ(c.inside_regions(), 2);
  EXPECT_EQ(c.count(HostSyncKind::Read), 2);
  EXPECT_EQ(c.count(HostSyncKind::Stream), 1);
  const std::string rep = c.report(true);
  EXPECT_NE(rep.find("inside sync-free region 'region'"), std::string::npos) << rep;
  EXPECT_NE(rep.find("would sync on a GPU"), std::string::npos) << rep;
}

TEST(HostSync, NestedCountersHandEventsOutward) {
  Tensor t = Tensor::full(Shape{2}, 1.0, DType::f64, Device::cpu());
  HostSyncCounter outer;
  {
    HostSyncCounter inner(/*capture_stacks=*/true);
    (void)t.to_vector<double>();
    ASSERT_EQ(inner.total(), 1);
    EXPECT_FALSE(inner.events()[0].stack.empty());
  }
  EXPECT_EQ(outer.total(), 1);
}

// Gradient clipping reads nothing on the host in its device form, and once (not once per parameter) in its host form.
TEST(HostSync, ClipGradIsOneReductionWithoutAHostRead) {
  std::vector<Tensor> ps;
  for (int k = 0; k < 5; ++k) {
    Tensor p = Tensor::full(Shape{4}, 1.0, DType::f32, Device::cpu());
    p.requires_grad_(true);
    p.set_grad(Tensor::full(Shape{4}, double(k + 1), DType::f32, Device::cpu()));
    ps.push_back(p);
  }
  HostSyncCounter c;
  {
    SyncFreeRegion r("clip");
    Tensor n = clip_grad_norm_device_(ps, 1.0);
    EXPECT_EQ(c.total(), 0) << c.report();
    EXPECT_EQ(n.ndim(), 0);
  }
  // sqrt(4 * (1 + 4 + 9 + 16 + 25)) = sqrt(220); every gradient scaled by 1 / (sqrt(220) + 1e-6).
  const double total = std::sqrt(220.0);
  for (int k = 0; k < 5; ++k)
    EXPECT_NEAR(ps[k].grad().to_vector<float>()[0], (k + 1) / (total + 1e-6), 1e-6);
  // The norm the Trainer reads with the loss values (grad_norm_device) is the clip's own, bit for bit.
  {
    const double before = grad_norm_device(ps).item<double>();
    std::vector<Tensor> copies;
    for (const Tensor& p : ps) {
      Tensor q = p.detach().clone();
      q.requires_grad_(true);
      q.set_grad(p.grad().clone());
      copies.push_back(q);
    }
    EXPECT_EQ(clip_grad_norm_device_(copies, 1e9).item<double>(), before);
  }
  c.clear();
  const double again = clip_grad_norm_(ps, 10.0);  // below the limit: unchanged, one read
  EXPECT_NEAR(again, 1.0, 1e-5);
  EXPECT_EQ(c.total(), 1) << c.report();
}

// The regime step (MinkUNet + the supervised regime, four steps) reads nothing on the host. The sparse structure
// (the sizes of new coordinate sets and kernel maps, which the host needs to allocate) is built ahead of each step
// from what the previous step's network asked for (train/structure_ahead.h, as the Trainer does): the first step
// builds it inside (no plan yet), every later step synchronises nothing at all. The control without the plan
// shows that the structure syncs are really there to be moved.
TEST(HostSync, TrainingStepReadsNothingOnTheHost) {
  Config c = leseg::train::testing::tiny_config(leseg::train::testing::scratch("host_sync_step"));
  c.apply_overrides({"data.workers=0"});
  Job job = build_job(c, JobKind::Train);
  Regime& r = *job.regime;
  r.set_training(true);
  job.train->begin_epoch(0);
  StructureAhead ahead;
  const int steps = 4;
  std::vector<int64_t> inside(steps, 0), structure_inside(steps, 0), structure_ahead(steps, 0);
  int64_t error_reads = 0, outside = 0;
  for (int it = 0; it < steps; ++it) {
    std::optional<Batch> b = job.train->next();  // loading: outside the step (the prefetch stream's work on a GPU)
    ASSERT_TRUE(b.has_value());
    HostSyncCounter counter;
    ahead.prepare(*b);  // outside the step, as in the Trainer
    structure_ahead[it] = counter.count(HostSyncKind::Structure);
    StepResult s = sync_free_step(r, *b, it);
    ahead.record(*b);
    // Step end (outside the boundary): the error-flag read and the metrics.
    check_device_errors(s.gnorm.device());
    const double gn = s.gnorm.item<double>();
    const double loss = s.terms.total().item_double();
    EXPECT_TRUE(std::isfinite(gn) && std::isfinite(loss));
    for (const auto& e : counter.events()) {
      if (e.region.empty()) continue;
      ++inside[size_t(it)];
      if (e.kind == HostSyncKind::Structure) ++structure_inside[size_t(it)];
    }
    EXPECT_EQ(inside[size_t(it)], structure_inside[size_t(it)])
        << "host syncs other than the sparse structure inside step " << it << ":\n" << counter.report(true);
    if (it > 0) {
      EXPECT_EQ(inside[size_t(it)], 0) << "step " << it << ":\n" << counter.report(true);
    }
    error_reads += counter.count(HostSyncKind::ErrorSlot);
    outside += counter.total() - counter.inside_regions();
  }
  // The boundary is where it should be: one error-flag read per step, outside the region.
  EXPECT_EQ(error_reads, steps);
  // Step 0 had no plan: its structure was built inside it; later steps moved the same work ahead of the step.
  EXPECT_GT(structure_inside[0], 0);
  EXPECT_EQ(structure_ahead[0], 0);
  for (int it = 1; it < steps; ++it) EXPECT_GT(structure_ahead[size_t(it)], 0) << "step " << it;
  EXPECT_FALSE(ahead.plan().empty());
  std::printf("host syncs per step, inside the step: %lld (step 0, no plan yet), then %lld / %lld / %lld; structure "
              "syncs moved ahead of steps 1-3: %lld / %lld / %lld; %lld outside in all\n",
              static_cast<long long>(inside[0]), static_cast<long long>(inside[1]), static_cast<long long>(inside[2]),
              static_cast<long long>(inside[3]), static_cast<long long>(structure_ahead[1]),
              static_cast<long long>(structure_ahead[2]), static_cast<long long>(structure_ahead[3]),
              static_cast<long long>(outside));
}
