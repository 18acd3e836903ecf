// SPDX-License-Identifier: Apache-2.0
#include "train/structure_ahead.h"

namespace leseg::train {

int64_t StructureAhead::prepare(const Batch& b) const {
  if (plan_.empty() || !b.input.defined()) return 0;
  return b.input.manager()->prebuild(plan_);
}

void StructureAhead::record(const Batch& b) {
  if (!b.input.defined()) return;
  plan_ = b.input.manager()->plan();
}

}  // namespace leseg::train
