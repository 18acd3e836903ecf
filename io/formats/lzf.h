// SPDX-License-Identifier: Apache-2.0
// LZF (liblzf format, as used by PCL's binary_compressed PCD): a stream of literal runs
// (ctrl < 32: ctrl+1 bytes follow) and back references (ctrl >> 5 = length-2, 7 = one more length byte;
// offset-1 = (ctrl & 31) << 8 | next byte). Decompression checks every bound.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace leseg::io {

// Decompresses exactly `out_size` bytes; throws leseg::Error mentioning `what` on corrupt input.
std::vector<uint8_t> lzf_decompress(const uint8_t* in, size_t in_size, size_t out_size, const std::string& what);
// Greedy hash-chain-free compressor (one candidate per 3-byte hash); output decodes with any LZF decoder.
std::vector<uint8_t> lzf_compress(const uint8_t* in, size_t in_size);

}  // namespace leseg::io
