// SPDX-License-Identifier: Apache-2.0
// safetensors reader/writer (https://github.com/huggingface/safetensors), so PyTorch users can
// `safetensors.torch.load_file` our weights and we can read theirs.
// Layout: u64 little-endian N | N bytes of JSON header, padded with spaces so N % 8 == 0 | data.
// Header: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
// with offsets relative to the data section. We write tensors contiguously in sorted name order.
// Reading validates: file size, header length, JSON syntax, object structure, dtype names, shapes,
// offsets inside the data section, e - b == numel * dtype size, no overlapping ranges; every error names
// the file (and the tensor when one is at fault).
#pragma once
#include <map>
#include <string>

#include "engine/nn/state_dict.h"

namespace leseg {

struct SafetensorsContent {
  StateDict tensors;
  std::map<std::string, std::string> metadata;
};

// dtype <-> safetensors names: F32 F64 F16 BF16 I32 I64 U8 BOOL.
const char* safetensors_dtype_name(DType t);
DType safetensors_dtype_from_name(const std::string& s, const std::string& context);

// The exact bytes of the file (tensors may live on any device; they are copied to the host).
std::string safetensors_serialize(const StateDict& tensors, const std::map<std::string, std::string>& metadata = {});
// Parses file bytes; `source` names the file in error messages. Tensors are created on `device`.
SafetensorsContent safetensors_parse(const std::string& bytes, const std::string& source, Device device = Device::cpu());

// Writes `path` (not atomic on its own; see checkpoint.h). fsync_file: flush to disk before returning.
// Writes all of `bytes` to `path` (created or truncated), optionally fsynced; errors name the path.
void write_file(const std::string& path, const std::string& bytes, bool fsync_file);

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {}, bool fsync_file = false);
SafetensorsContent load_safetensors(const std::string& path, Device device = Device::cpu());

}  // namespace leseg
