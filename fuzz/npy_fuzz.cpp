// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the .npy layout parser (everything parse_npy checks before it touches the payload):
// any input must parse or throw leseg::Error, never crash; every payload byte it promises is read (ASan
// catches a promise past the end of the input).
#include <cstddef>
#include <cstdint>

#include "engine/error.h"
#include "io/formats/npy_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    leseg::io::NpyLayout l = leseg::io::parse_npy_layout(data, size, "fuzz.npy");
    volatile uint8_t sink = 0;
    const size_t bytes = size_t(l.count) * size_t(l.item_size);
    for (size_t i = 0; i < bytes; ++i) sink = sink ^ data[l.data_offset + i];
    (void)sink;
  } catch (const leseg::Error&) {
  }
  return 0;
}
