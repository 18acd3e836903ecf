// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the PLY parser: any input must parse or throw leseg::Error, never crash.
#include <cstddef>
#include <cstdint>

#include "engine/error.h"
#include "io/formats/ply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    leseg::io::PlyData p = leseg::io::parse_ply(data, size, "fuzz.ply");
    if (p.num_vertices > 0 && p.has("x")) (void)p.get("x")[0];
  } catch (const leseg::Error&) {
  }
  return 0;
}
