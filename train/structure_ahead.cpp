// SPDX-License-Identifier: Apache-2.0
#include "train/structure_ahead.h"

namespace leseg::train {

int64_t StructureAhead::prepare(const Batch& b) const {
  int64_t n = 0;
  if (!plan_.empty() && b.input.defined()) n += b.input.manager()->prebuild(plan_);
  // The second view (LASS3D's teacher input, Batch::teacher): its own manager, its own plan.
  if (!teacher_plan_.empty() && b.teacher && b.teacher->input.defined())
    n += b.teacher->input.manager()->prebuild(teacher_plan_);
  return n;
}

void StructureAhead::record(const Batch& b) {
  if (b.input.defined()) plan_ = b.input.manager()->plan();
  if (b.teacher && b.teacher->input.defined()) teacher_plan_ = b.teacher->input.manager()->plan();
}

}  // namespace leseg::train
