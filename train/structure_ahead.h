// SPDX-License-Identifier: Apache-2.0
// The sparse structure ahead of the training step (issue 17; docs/execution.md, "The sparse structure ahead of
// the step"). A sparse network's forward asks its input's CoordinateManager for coordinate sets and kernel maps;
// building them reads their sizes on the host (HostSyncKind::Structure), the last host dependency inside a sparse
// training step. Which maps a network asks for depends on the network, not on the batch: StructureAhead remembers
// the requests of step N (`record`) and builds them for batch N + 1 before its step starts (`prepare`), so that
// the forward's requests are cache hits and the step itself synchronises nothing. The maps are the ones the
// forward would have built (same code, same order), so results are unchanged. Only the batch's own input tensor
// (Batch::input) is covered: every 3D regime runs its network on it when it is on the device already; a second
// input built inside the step (LASS3D's teacher view) still builds its structure there.
#pragma once
#include <cstdint>

#include "engine/sparse/coordinate_manager.h"
#include "train/batch.h"

namespace leseg::train {

class StructureAhead {
 public:
  // Before the step: builds, on the batch input's manager, what the last recorded step asked for. Returns the
  // number of requests built or already cached (0 without a plan, or when the batch has no sparse input).
  int64_t prepare(const Batch& b) const;
  // After the forward: remembers what the network asked of this batch's input manager.
  void record(const Batch& b);
  const StructurePlan& plan() const { return plan_; }

 private:
  StructurePlan plan_;
};

}  // namespace leseg::train
