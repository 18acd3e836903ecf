// SPDX-License-Identifier: Apache-2.0
// The `leseg` binary: everything is in train/cli.cpp.
// OpenMP wait policy: libgomp's default lets idle worker threads spin between parallel regions. Our training
// loops run thousands of short regions; on a machine whose cores are shared (other jobs, data-loader threads,
// CI) the spinning threads steal the cores the working ones need — measured on the 2-core dev machine under
// load: a clip2scene epoch took 40 s (16 s user) with the default and 18 s (4 s user) with
// OMP_WAIT_POLICY=passive. libgomp reads the variable once when it loads, before main(), so when the user has
// not chosen a policy we set passive and re-execute ourselves once (LESEG_OMP_REEXEC guards the loop).
// An explicit OMP_WAIT_POLICY (e.g. `active` on a dedicated machine) is always respected.
#include <cstdlib>
#include <unistd.h>

#include "train/cli.h"

int main(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("LESEG_OMP_REEXEC") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv("LESEG_OMP_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: go on with the default policy
  }
  return leseg::train::run_cli(argc, argv);
}
