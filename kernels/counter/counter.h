// SPDX-License-Identifier: Apache-2.0
// Device-side step counters (BatchNorm's num_batches_tracked): *p += by, on the tensor's device, so that a training
// step never reads the counter on the host and a captured CUDA graph increments it on every replay. Pointers only.
#pragma once
#include <cstdint>

#include "kernels/common/hd.h"

namespace leseg::kernels {

void increment_i64_cpu(int64_t* p, int64_t by);
void increment_i64_cuda(int64_t* p, int64_t by, StreamHandle s);

}  // namespace leseg::kernels
