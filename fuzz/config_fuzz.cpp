// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the config parser (YAML through yaml-cpp, then leseg's key handling): any input must
// load or throw leseg::Error, never crash or leak another exception. The input's first line is also applied
// as a key=value override; every key found is read back as a string and the tree dumped.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    leseg::train::Config c = leseg::train::Config::from_string(text, "fuzz.yaml");
    for (const auto& k : c.keys()) (void)c.get<std::string>(k, "");
    (void)c.dump();
  } catch (const leseg::Error&) {
  }
  try {
    leseg::train::Config c;
    c.apply_override(text.substr(0, text.find('\n')));
    for (const auto& k : c.keys()) (void)c.get<std::string>(k, "");
    (void)c.dump();
  } catch (const leseg::Error&) {
  }
  return 0;
}
