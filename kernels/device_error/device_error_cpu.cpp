// SPDX-License-Identifier: Apache-2.0
// Device-side input errors: the messages and the CPU twin of the id check (device_error.h).
#include "kernels/device_error/device_error.h"

#include <sstream>

namespace leseg::kernels {

std::string describe_device_error(const DeviceErrorRecord& r) {
  std::ostringstream os;
  switch (static_cast<DeviceErrorCode>(r.code)) {
    case DeviceErrorCode::None:
      return {};
    case DeviceErrorCode::CrossEntropyLabel:
    case DeviceErrorCode::NegativeLearningLabel:
      os << (r.code == int32_t(DeviceErrorCode::CrossEntropyLabel) ? "cross_entropy" : "negative_learning")
         << " (CUDA): label " << r.value << " at row " << r.index << " is not in [0, " << r.bound
         << ") and not the ignore index";
      break;
    case DeviceErrorCode::SegmentGroup:
      os << "segment op (CUDA): group id " << r.value << " at element " << r.index << " is >= G = " << r.bound;
      break;
    case DeviceErrorCode::VoteGroup:
      os << "vote_mode (CUDA): group id " << r.value << " at element " << r.index << " is >= G = " << r.bound;
      break;
    case DeviceErrorCode::VoteLabel:
      os << "vote_mode (CUDA): label " << r.value << " at element " << r.index << " is not in [0, " << r.bound
         << ") and not the ignore index";
      break;
    case DeviceErrorCode::IndexSelect:
    case DeviceErrorCode::IndexAdd:
      // The CPU twin's words (engine/ops/shape_ops.cpp check_indices), with "(CUDA)".
      os << (r.code == int32_t(DeviceErrorCode::IndexSelect) ? "index_select" : "index_add") << " (CUDA): index "
         << r.value << " at position " << r.index << " is out of range [0, " << r.bound << ")";
      break;
    case DeviceErrorCode::PointVoxelIndex:
      os << "point_voxel_index (CUDA): point " << r.index << " has voxel index " << r.value << " outside [0, " << r.bound
         << ") (an inverse entry out of range, or a voxel without a parent at the coarser stride)";
      break;
    case DeviceErrorCode::OneHot:  // the CPU twin's words (engine/ops/elementwise.cpp one_hot), with "(CUDA)"
      os << "one_hot (CUDA): index " << r.value << " at position " << r.index << " is outside [0, " << r.bound << ")";
      break;
    default:
      os << "unknown device error code " << r.code << " (index " << r.index << ", value " << r.value << ")";
  }
  return os.str();
}

bool check_ids_cpu(const int64_t* v, int64_t n, int64_t lo, int64_t hi, int64_t allowed, DeviceErrorCode code,
                   DeviceErrorRecord* out) {
  for (int64_t i = 0; i < n; ++i)
    if (!id_in_range(v[i], lo, hi, allowed)) {
      *out = DeviceErrorRecord{};
      out->code = int32_t(code);
      out->index = i;
      out->value = v[i];
      out->bound = hi;
      return true;
    }
  return false;
}

}  // namespace leseg::kernels
