// SPDX-License-Identifier: Apache-2.0
#include "kernels/common/device_error.h"

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
    default:
      os << "unknown device error code " << r.code << " (index " << r.index << ", value " << r.value << ")";
  }
  return os.str();
}

}  // namespace leseg::kernels
