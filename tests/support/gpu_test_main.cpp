// SPDX-License-Identifier: Apache-2.0
// main() of every GPU-labelled test executable (tests/**/*_gpu_test.cpp): GoogleTest's, plus one switch.
// LESEG_REQUIRE_GPU=1 turns a skipped GPU test into a failure, so a run on a GPU machine cannot pass by skipping
// (a missing driver, a wrong architecture, a device the build cannot see). A test that skips for a reason that
// is legitimate on a one-GPU machine (e.g. "needs a second device") says "(optional)" in its skip message and
// stays a skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {
bool require_gpu() {
  const char* e = std::getenv("LESEG_REQUIRE_GPU");
  return e && *e && std::strcmp(e, "0") != 0;
}

class RequireGpuListener : public ::testing::EmptyTestEventListener {
  // End events reach listeners in reverse order of registration, so this runs before the result printer
  // and the printer already reports the test as failed.
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult* r = info.result();
    if (!r->Skipped()) return;
    std::string why;
    for (int i = 0; i < r->total_part_count(); ++i) {
      const ::testing::TestPartResult& p = r->GetTestPartResult(i);
      if (!p.skipped()) continue;
      if (std::strstr(p.message(), "(optional)")) return;
      why = p.message();
    }
    ADD_FAILURE() << "LESEG_REQUIRE_GPU=1: GPU test " << info.test_suite_name() << "." << info.name()
                  << " skipped instead of running: " << why;
  }
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (require_gpu()) ::testing::UnitTest::GetInstance()->listeners().Append(new RequireGpuListener);
  return RUN_ALL_TESTS();
}
