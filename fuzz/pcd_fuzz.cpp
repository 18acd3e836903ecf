// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the PCD parser (ascii / binary / binary_compressed with LZF): parse or throw
// leseg::Error, never crash; values of every field are read back.
#include <cstddef>
#include <cstdint>

#include "engine/error.h"
#include "io/formats/pcd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    leseg::io::PcdData p = leseg::io::parse_pcd(data, size, "fuzz.pcd");
    double acc = 0;
    for (size_t f = 0; f < p.fields.size(); ++f)
      if (p.points > 0) acc += p.value(int(f), p.points - 1, p.fields[f].count - 1);
    (void)acc;
  } catch (const leseg::Error&) {
  }
  return 0;
}
