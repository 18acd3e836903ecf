// SPDX-License-Identifier: Apache-2.0
// The framework-baseline harness's correctness rows at a small size (benchmarks/baselines/run.py --check-only
// --small): leseg's outputs and gradients against spconv, plain PyTorch and torchvision on the same inputs. Needs
// the harness's venv (scripts/baselines.sh makes it); skips, saying so, when it is absent. Installs nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

TEST(BaselinesSlow, CorrectnessRowsAgreeAtASmallSize) {
  const fs::path src = LESEG_SOURCE_DIR;
  const char* venv_env = std::getenv("LESEG_BASELINES_VENV");
  const fs::path venv = venv_env ? fs::path(venv_env) : src / ".venv-baselines";
  const fs::path py = venv / "bin" / "python";
  if (!fs::exists(py))
    GTEST_SKIP() << "no baseline venv at " << venv << ": run scripts/baselines.sh once to make it";
  // The worker sits next to this test executable (the build directory).
  const fs::path worker = fs::read_symlink("/proc/self/exe").parent_path() / "leseg_baselines";
  ASSERT_TRUE(fs::exists(worker)) << worker << " missing: build the target leseg_baselines";
  const fs::path work = fs::temp_directory_path() / ("leseg_baselines_slow_" + std::to_string(::getpid()));
  const fs::path log = work.string() + ".log";
  // Every row except the MinkUNet34C step (the 14A step covers the same code at a third of the time).
  std::ostringstream cmd;
  cmd << py << " " << (src / "benchmarks" / "baselines" / "run.py") << " --check-only --small --threads 2"
      << " --voxels 20000 --train-voxels 20000 --channels 32 --worker " << worker << " --work " << work
      << " --filter '^(?!train/MinkUNet34C)' > " << log << " 2>&1";
  const int rc = std::system(cmd.str().c_str());
  std::ifstream f(log);
  std::stringstream out;
  out << f.rdbuf();
  fs::remove_all(work);
  fs::remove(log);
  EXPECT_EQ(rc, 0) << cmd.str() << "\n" << out.str();
  EXPECT_NE(out.str().find(", 0 disagree or fail"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("ERROR"), std::string::npos) << out.str();
}
