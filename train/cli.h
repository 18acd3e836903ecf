// SPDX-License-Identifier: Apache-2.0
// The `leseg` command line (CLI11; `--help` on every subcommand):
//   leseg train CONFIG [key=value ...] [--resume DIR] [--out DIR]
//   leseg eval  CONFIG [key=value ...] --checkpoint F
//   leseg infer CONFIG [key=value ...] --checkpoint F --scene PATH --out DIR
//   leseg model info NAME | leseg model list
//   leseg data synth --out DIR [...] | leseg data convert --from FORMAT SRC --to DIR | leseg data inspect DIR
// run_cli returns the process exit code: 0 success (also after a clean stop on SIGINT/SIGTERM), 1 a leseg
// error (printed as "error: ..." on stderr, naming the bad key or missing file), 2 a command-line error.
#pragma once
#include <string>
#include <vector>

namespace leseg::train {

int run_cli(const std::vector<std::string>& args);  // args without the program name
int run_cli(int argc, char** argv);
// The stand-ins' noise figures (METHODS §6) on up to max_scenes scenes of a dataset root, as printed by
// `leseg data inspect`; says so when no scene carries CLIP labels, SAM masks and GT label images.
std::string calibration_text(const std::string& root, int max_scenes);

}  // namespace leseg::train
