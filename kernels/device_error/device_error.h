// SPDX-License-Identifier: Apache-2.0
// Device-side input errors. A CPU twin throws on an out-of-range label or group id; its CUDA kernel cannot throw,
// so it records the first offending element in a per-device slot (first writer wins) and carries on treating the
// element as the CPU twin's message says it is invalid. The host reads the slot once per training step, after any
// op in LESEG_CUDA_SYNC=1 mode, or when asked (engine/device.h: check_device_errors), and throws an error naming the
// op, the element and its value, the same facts the CPU twin's message gives.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/common/hd.h"

namespace leseg::kernels {

enum class DeviceErrorCode : int32_t {
  None = 0,
  CrossEntropyLabel = 1,      // cross_entropy: label not in [0, C) and not the ignore index
  NegativeLearningLabel = 2,  // negative_learning: label not in [0, C) and not the ignore index
  SegmentGroup = 3,           // segment_*: group id >= G (negative ids mean "no group" and are valid)
  VoteGroup = 4,              // vote_mode: group id >= G
  VoteLabel = 5,              // vote_mode: label not in [0, C) and not the ignore index
  IndexSelect = 6,            // index_select / embedding: index not in [0, R)
  IndexAdd = 7,               // index_add: index not in [0, R)
  PointVoxelIndex = 8,        // point_voxel_index: a point's voxel out of range, or a voxel without a coarser parent
  OneHot = 9,                 // one_hot: index not in [0, C)
};

// What a kernel recorded: the op's code, the element's index, its value and the bound it broke.
struct DeviceErrorRecord {
  int32_t code = 0;
  int32_t pad = 0;
  int64_t index = 0;
  int64_t value = 0;
  int64_t bound = 0;
};

// The message for a record (pure host code: tested on CPU). Empty for code None.
std::string describe_device_error(const DeviceErrorRecord& r);

// Valid iff v == allowed or lo <= v < hi (the rule each code checks; shared by the CUDA check and its CPU test).
LESEG_HD bool id_in_range(int64_t v, int64_t lo, int64_t hi, int64_t allowed) {
  return v == allowed || (v >= lo && v < hi);
}

// CPU twin (the spec of the check): the first v[i] (smallest i) failing id_in_range(v[i], lo, hi, allowed), recorded
// under `code` in *out; false (and *out untouched) when every id is valid. The CPU twins of the ops throw on it
// directly; this is what a CUDA check records (CUDA records *an* offender when several exist).
bool check_ids_cpu(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t allowed, DeviceErrorCode code,
                   DeviceErrorRecord* out);

// CUDA (device_error_cuda.cu): the slot of `device` (allocated and zeroed on first use, never freed), a check that
// records the first v[i] failing id_in_range(v[i], lo, hi, allowed) under `code` (one launch, no host sync), and
// fetch: copies the slot to `out` (synchronises the device), resets it, returns whether an error was recorded.
DeviceErrorRecord* device_error_slot_cuda(int device);
void check_ids_cuda(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t allowed, DeviceErrorCode code,
                    StreamHandle s);
bool fetch_device_error_cuda(int device, DeviceErrorRecord* out);

}  // namespace leseg::kernels
