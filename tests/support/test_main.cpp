// SPDX-License-Identifier: Apache-2.0
// main() of every single-process test executable (tests/**/*_test.cpp): GoogleTest's, plus two things.
//
// 1. A scratch folder of this process. Before any test runs, TMPDIR is pointed at a fresh folder
//    $TMPDIR/leseg-test-<pid>-XXXXXX (mkdtemp), so every std::filesystem::temp_directory_path(), every child
//    process (`leseg` CLI runs, Python tools) and every mkstemp of the tests writes inside it; the folder is removed
//    when the executable ends. Tests therefore cannot leak data sets, runs and checkpoints into /tmp (they did: 35 GB
//    of leseg_* folders from earlier runs filled the disk the CI builds on). LESEG_KEEP_TEST_TMP=1 keeps the folder
//    and prints its path, for looking at what a failing test wrote.
// 2. (GPU executables, built with LESEG_TEST_MAIN_GPU=1) LESEG_REQUIRE_GPU=1 turns a skipped GPU test into a
//    failure, so a run on a GPU machine cannot pass by skipping (a missing driver, a wrong architecture, a device
//    the build cannot see). A test that skips for a reason that is legitimate on a one-GPU machine (e.g. "needs a
//    second device") says "(optional)" in its skip message and stays a skip.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace {
bool env_on(const char* name) {
  const char* e = std::getenv(name);
  return e && *e && std::strcmp(e, "0") != 0;
}

#if defined(LESEG_TEST_MAIN_GPU) && LESEG_TEST_MAIN_GPU
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
#endif

// The folder this process's tests write into; empty when it could not be made (then tests use TMPDIR as given).
std::string make_scratch() {
  std::error_code ec;
  std::filesystem::path base = std::filesystem::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string templ = (base / ("leseg-test-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    std::fprintf(stderr, "leseg test main: cannot make a scratch folder under %s (%s); tests write there directly\n",
                 base.c_str(), std::strerror(errno));
    return {};
  }
  return std::string(buf.data());
}
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
#if defined(LESEG_TEST_MAIN_GPU) && LESEG_TEST_MAIN_GPU
  if (env_on("LESEG_REQUIRE_GPU")) ::testing::UnitTest::GetInstance()->listeners().Append(new RequireGpuListener);
#endif
  const std::string scratch = make_scratch();
  if (!scratch.empty()) ::setenv("TMPDIR", scratch.c_str(), 1);
  const int rc = RUN_ALL_TESTS();
  if (!scratch.empty()) {
    if (env_on("LESEG_KEEP_TEST_TMP")) {
      std::fprintf(stderr, "leseg test main: LESEG_KEEP_TEST_TMP: kept %s\n", scratch.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(scratch, ec);
      if (ec) std::fprintf(stderr, "leseg test main: could not remove %s: %s\n", scratch.c_str(), ec.message().c_str());
    }
  }
  return rc;
}
