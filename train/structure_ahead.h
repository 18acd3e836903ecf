// SPDX-License-Identifier: Apache-2.0
// The sparse structure ahead of the training step (issue 17; docs/execution.md, "The sparse structure ahead of
// the step"). A sparse network's forward asks its input's CoordinateManager for coordinate sets and kernel maps;
// building them reads their sizes on the host (HostSyncKind::Structure), the last host dependency inside a sparse
// training step. Which maps a network asks for depends on the network, not on the batch: StructureAhead remembers
// the requests of step N (`record`) and builds them for batch N + 1 before its step starts (`prepare`), so that
// the forward's requests are cache hits and the step itself synchronises nothing. The maps are the ones the
// forward would have built (same code, same order), so results are unchanged. Only the batch's own input tensor
// (Batch::input) and the second view's (Batch::teacher->input, LASS3D's teacher) are covered, each with its own
// plan: every 3D regime runs its network on them when they are on the device already.
#pragma once
#include <cstdint>

#include "engine/sparse/coordinate_manager.h"
#include "train/batch.h"

namespace leseg::train {

class StructureAhead {
 public:
  // Before the step: builds, on the batch input's manager (and the teacher view's), what the last recorded step
  // asked for. Returns the number of requests built or already cached (0 without a plan, or without sparse input).
  int64_t prepare(const Batch& b) const;
  // After the forward: remembers what the network asked of this batch's input manager.
  void record(const Batch& b);
  const StructurePlan& plan() const { return plan_; }

 private:
  StructurePlan plan_, teacher_plan_;
};

}  // namespace leseg::train
