// SPDX-License-Identifier: Apache-2.0
// Coverage: every op of engine/ops/ops.def has harness cases and a CUDA path (or a stated CPU-only
// reason); every case names a listed op; the harness holds at least 40 ops.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "tests/engine/ops/op_harness.h"

namespace leseg::testing {

struct OpRow {
  std::string name;
  bool cuda;
  std::string cpu_only_reason;
};
static const std::vector<OpRow> kRows = {
#define LESEG_OP(n) {#n, true, ""},
#define LESEG_OP_CPU_ONLY(n, why) {#n, false, why},
#include "engine/ops/ops.def"
#undef LESEG_OP
#undef LESEG_OP_CPU_ONLY
};

TEST(OpCoverage, EveryOpHasCasesAndBothPaths) {
  std::map<std::string, int> counts;
  for (const auto& c : op_cases()) counts[c.op]++;
  std::set<std::string> names;
  for (const auto& r : kRows) {
    names.insert(r.name);
    EXPECT_GT(counts[r.name], 0) << "op `" << r.name << "` has no harness case";
    EXPECT_TRUE(r.cuda || !r.cpu_only_reason.empty()) << "op `" << r.name << "` has no CUDA path and no reason";
  }
  for (const auto& [op, n] : counts) EXPECT_TRUE(names.count(op)) << "case for unlisted op `" << op << "`";
  EXPECT_GE(kRows.size(), 40u);
}

}  // namespace leseg::testing
