// SPDX-License-Identifier: Apache-2.0
// The `leseg` binary: everything is in train/cli.cpp.
#include "train/cli.h"

int main(int argc, char** argv) { return leseg::train::run_cli(argc, argv); }
