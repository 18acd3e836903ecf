// SPDX-License-Identifier: Apache-2.0
// Out of memory on the CPU is an error naming the sizes: a request no machine can hold, and (in a child
// process under an address-space limit) an ordinary 1 GiB request that fails.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "engine/error.h"
#include "engine/tensor.h"

using namespace leseg;

TEST(OutOfMemory, CpuRequestBeyondAnyMachineNamesTheSizes) {
  try {
    Tensor::empty(Shape{int64_t(1) << 42}, DType::f32);  // 16 TiB
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("CPU out of memory: tried to allocate 16384.00 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("17592186044416 bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("in use"), std::string::npos) << m;
  }
}

TEST(OutOfMemory, CpuRequestUnderAnAddressSpaceLimitNamesTheSizes) {
  int fd[2];
  ASSERT_EQ(::pipe(fd), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fd[0]);
    std::string msg = "no error";
    rlimit lim{};
    // current mappings + 256 MiB: a 1 GiB tensor cannot fit
    long pages = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
      std::fclose(f);
    }
    lim.rlim_cur = lim.rlim_max = rlim_t(pages) * rlim_t(::sysconf(_SC_PAGESIZE)) + (rlim_t(256) << 20);
    if (::setrlimit(RLIMIT_AS, &lim) != 0) msg = "setrlimit failed";
    else {
      try {
        Tensor t = Tensor::empty(Shape{int64_t(1) << 28}, DType::f32);  // 1 GiB
      } catch (const Error& e) {
        msg = e.what();
      }
    }
    ssize_t w = ::write(fd[1], msg.data(), msg.size());
    (void)w;
    ::_exit(0);
  }
  ::close(fd[1]);
  std::string m;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd[0], buf, sizeof buf)) > 0;) m.append(buf, size_t(n));
  ::close(fd[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_NE(m.find("CPU out of memory: tried to allocate 1.00 GiB (1073741824 bytes)"), std::string::npos) << m;
}
