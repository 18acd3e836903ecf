// SPDX-License-Identifier: Apache-2.0
// NumPy .npy read/write (format versions 1.0, 2.0, 3.0). C order only: fortran_order True is an error.
// dtypes read (descr, byte order '<', '>', '|' or '='): f2 f4 f8, i1 i2 i4 i8, u1 u2 u4, b1.
//   f4 -> f32, f8 -> f64, f2 -> f16, i4 -> i32, i8 -> i64, u1 -> u8, b1 -> bool,
//   widened (documented): i1, i2, u2 -> i32; u4 -> i64. Big-endian ('>') data is byte-swapped.
//   u8 (uint64) is rejected (no lossless leseg dtype).
// dtypes written: f32 '<f4', f64 '<f8', f16 '<f2', i32 '<i4', i64 '<i8', u8 '|u1', bool '|b1' (bf16 rejected).
// Errors name the file and the header field or byte offset.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "io/formats/file_io.h"

namespace leseg::io {

// Parses an in-memory .npy file; `name` appears in error messages.
Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name);
Tensor read_npy(const std::string& path);

std::vector<uint8_t> encode_npy(const Tensor& t);  // CPU copy is made if needed
void write_npy(const std::string& path, const Tensor& t);

}  // namespace leseg::io
